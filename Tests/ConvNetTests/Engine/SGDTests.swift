import XCTest
@testable import ConvNet

final class SGDTests: XCTestCase {
    /// Two steps with momentum 0.9 and weight decay 0.1, worked by hand:
    /// w = 1, g = 0.5, η = 0.1: d = 0.5 + 0.1·1 = 0.6, v = 0.6, w = 1 − 0.06 = 0.94;
    /// then g = 0.5: d = 0.5 + 0.094 = 0.594, v = 0.9·0.6 + 0.594 = 1.134, w = 0.94 − 0.1134 = 0.8266.
    func testMomentumAndWeightDecayByHand() {
        let parameter = Parameter(name: "w", shape: [1])
        parameter.value[0] = 1
        parameter.gradient[0] = 0.5
        let optimizer = SGD(arena: ParameterArena([parameter]), momentum: 0.9, weightDecay: 0.1)
        optimizer.step(learningRate: 0.1)
        XCTAssertEqual(parameter.value[0], 0.94, accuracy: 1e-6)
        XCTAssertEqual(optimizer.velocity[0], 0.6, accuracy: 1e-6)
        optimizer.step(learningRate: 0.1)
        XCTAssertEqual(optimizer.velocity[0], 1.134, accuracy: 1e-6)
        XCTAssertEqual(parameter.value[0], 0.8266, accuracy: 1e-6)
        XCTAssertEqual(optimizer.state, [NamedTensor(name: "w.momentum_buffer", shape: [1], floats: [optimizer.velocity[0]])])
    }

    /// Nesterov: w −= η·(d + μ·v). First step from w = 1, g = 0.5, no decay:
    /// d = 0.5, v = 0.5, w = 1 − 0.1·(0.5 + 0.45) = 0.905.
    func testNesterovByHand() {
        let parameter = Parameter(name: "w", shape: [1])
        parameter.value[0] = 1
        parameter.gradient[0] = 0.5
        let optimizer = SGD(arena: ParameterArena([parameter]), momentum: 0.9, nesterov: true)
        optimizer.step(learningRate: 0.1)
        XCTAssertEqual(parameter.value[0], 0.905, accuracy: 1e-6)
    }

    func testSchedules() {
        func rate(_ schedule: LearningRateSchedule, epoch: Int, step: Int = 0) -> Double {
            schedule.learningRate(base: 0.1, epoch: epoch, stepInEpoch: step, stepsPerEpoch: 10, totalEpochs: 10)
        }
        XCTAssertEqual(rate(.constant, epoch: 7), 0.1)
        XCTAssertEqual(rate(.step(every: 3, factor: 0.5), epoch: 2), 0.1, accuracy: 1e-12)
        XCTAssertEqual(rate(.step(every: 3, factor: 0.5), epoch: 6), 0.025, accuracy: 1e-12)
        XCTAssertEqual(rate(.multistep(milestones: [2, 5], factor: 0.1), epoch: 4), 0.01, accuracy: 1e-12)
        XCTAssertEqual(rate(.multistep(milestones: [2, 5], factor: 0.1), epoch: 5), 0.001, accuracy: 1e-12)
        XCTAssertEqual(rate(.cosine(minimum: 0), epoch: 5), 0.05, accuracy: 1e-12)
        XCTAssertEqual(rate(.cosine(minimum: 0), epoch: 0, step: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(rate(.inverse(gamma: 1e-4, power: 0.75), epoch: 1, step: 0), 0.1 * pow(1.001, -0.75), accuracy: 1e-12)
    }
}
