import Foundation
import XCTest
@testable import ConvNet

/// Adam and AdamW against their definitions (PyTorch's `torch.optim.Adam`/`AdamW`), computed in Double.
final class AdamTests: XCTestCase {
    override func tearDown() { Parallelism.threads = 1 }

    /// The first step moves each weight by about η·sign(g): m̂ = g, v̂ = g².
    func testFirstStepByHand() {
        let parameter = Parameter(name: "w", shape: [2])
        parameter.value[0] = 1; parameter.value[1] = -1
        parameter.gradient[0] = 0.5; parameter.gradient[1] = -2
        let optimizer = Adam(arena: ParameterArena([parameter]))
        optimizer.step(learningRate: 0.1)
        XCTAssertEqual(parameter.value[0], 1 - 0.1 * 0.5 / (0.5 + 1e-8), accuracy: 1e-6)
        XCTAssertEqual(parameter.value[1], -1 + 0.1 * 2 / (2 + 1e-8), accuracy: 1e-6)
        XCTAssertEqual(optimizer.stepCount, 1)
    }

    /// Six steps with changing gradients, weight decay, on 1 and 3 workers, against a Double
    /// reference of the formulas, for both variants.
    func testStepsFollowTheDefinition() {
        for (decoupled, threads) in [(false, 1), (true, 1), (false, 3), (true, 3)] {
            Parallelism.threads = threads
            let parameters = [Parameter(name: "a", shape: [3, 5]), Parameter(name: "b", shape: [7])]
            var random = SeededRandom(seed: 5)
            for parameter in parameters { for i in 0..<parameter.value.count { parameter.value[i] = random.nextGaussian() } }
            let (beta1, beta2, epsilon, decay, rate) = (0.8, 0.99, 1e-6, 0.05, 0.01)
            let optimizer = Adam(arena: ParameterArena(parameters), betas: (Float(beta1), Float(beta2)), epsilon: Float(epsilon),
                                 weightDecay: Float(decay), decoupledWeightDecay: decoupled)
            var w = parameters.flatMap { $0.value.values.map(Double.init) }
            var m = [Double](repeating: 0, count: w.count), v = m
            for t in 1...6 {
                var g: [Double] = []
                for parameter in parameters {
                    for i in 0..<parameter.gradient.count { parameter.gradient[i] = random.nextGaussian() * Float(t) }
                    g += parameter.gradient.values.map(Double.init)
                }
                optimizer.step(learningRate: Float(rate))
                for i in w.indices {
                    var gradient = g[i]
                    if decoupled { w[i] *= 1 - rate * decay } else { gradient += decay * w[i] }
                    m[i] = beta1 * m[i] + (1 - beta1) * gradient
                    v[i] = beta2 * v[i] + (1 - beta2) * gradient * gradient
                    let stepSize = rate / (1 - pow(beta1, Double(t)))
                    w[i] -= stepSize * m[i] / (v[i].squareRoot() / (1 - pow(beta2, Double(t))).squareRoot() + epsilon)
                }
            }
            assertClose(parameters.flatMap(\.value.values), w.map(Float.init), tolerance: 1e-5, "decoupled \(decoupled), threads \(threads)")
        }
    }

    /// AdamW with a zero gradient only shrinks the weights, by (1 − η·λ) per step.
    func testDecoupledWeightDecayShrinksWeights() {
        let parameter = Parameter(name: "w", shape: [1])
        parameter.value[0] = 2
        let optimizer = Adam(arena: ParameterArena([parameter]), weightDecay: 0.1, decoupledWeightDecay: true)
        for _ in 0..<3 { optimizer.step(learningRate: 0.5) }
        XCTAssertEqual(parameter.value[0], 2 * 0.95 * 0.95 * 0.95, accuracy: 1e-6)
    }

    /// Saving the state after three steps and loading it into a fresh optimizer continues
    /// exactly: two more steps give bit-identical weights, and the step count carries over.
    func testStateRoundTripContinuesExactly() {
        func makeParameters() -> [Parameter] {
            let parameter = Parameter(name: "0.weight", shape: [4])
            for i in 0..<4 { parameter.value[i] = Float(i) - 1.5 }
            return [parameter]
        }
        func gradient(_ step: Int, into parameter: Parameter) {
            for i in 0..<4 { parameter.gradient[i] = sin(Float(step * 4 + i)) }
        }
        let straight = makeParameters(), first = Adam(arena: ParameterArena(straight))
        for step in 0..<5 { gradient(step, into: straight[0]); first.step(learningRate: 0.01) }

        let split = makeParameters(), before = Adam(arena: ParameterArena(split))
        for step in 0..<3 { gradient(step, into: split[0]); before.step(learningRate: 0.01) }
        let saved = Dictionary(uniqueKeysWithValues: before.state.map { ($0.name, $0) })
        XCTAssertEqual(Set(saved.keys), ["0.weight.exp_avg", "0.weight.exp_avg_sq", "step"])
        XCTAssertEqual(before.stateEntries.map(\.name), before.state.map(\.name))
        let after = Adam(arena: ParameterArena([split[0]]))
        after.load(state: saved)
        XCTAssertEqual(after.stepCount, 3)
        for step in 3..<5 { gradient(step, into: split[0]); after.step(learningRate: 0.01) }
        XCTAssertEqual(split[0].value.values, straight[0].value.values)
    }

    /// The config form: defaults as PyTorch's (AdamW's weight decay 0.01), strict keys.
    func testSpecifications() throws {
        func decode(_ json: String) throws -> OptimizerSettings {
            try JSONDecoder().decode(OptimizerSettings.self, from: Data(json.utf8))
        }
        XCTAssertEqual(try decode(#"{"type": "adam"}"#), OptimizerSettings(Adam.Specification()))
        XCTAssertEqual(try decode(#"{"type": "adamw", "learningRate": 0.002}"#),
                       OptimizerSettings(Adam.DecoupledSpecification(learningRate: 0.002, weightDecay: 0.01)))
        XCTAssertEqual(try decode(#"{"type": "adam", "learningRate": 0.001, "betas": [0.9, 0.999], "epsilon": 1e-8, "weightDecay": 0}"#),
                       OptimizerSettings(Adam.Specification()))
        let settings = OptimizerSettings(Adam.DecoupledSpecification(betas: [0.8, 0.9]))
        XCTAssertEqual(try decode(String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)), settings)
        for bad in [#"{"type": "adam", "betas": [0.9]}"#, #"{"type": "adam", "betas": [0.9, 1]}"#,
                    #"{"type": "adamw", "momentum": 0.9}"#, #"{"type": "adam", "epsilon": 0}"#] {
            XCTAssertThrowsError(try decode(bad), bad)
        }
    }
}
