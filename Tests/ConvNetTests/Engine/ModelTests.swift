import Foundation
import XCTest
@testable import ConvNet

final class ModelTests: XCTestCase {
    static let lenetJSON = """
    {"input": [1, 28, 28], "layers": [
      {"type": "conv", "filters": 20, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
      {"type": "conv", "filters": 50, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
      {"type": "flatten"}, {"type": "dense", "units": 500}, {"type": "relu"}, {"type": "dense", "units": 10}]}
    """

    func testBuildLeNetFromJSON() throws {
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(Self.lenetJSON.utf8))
        let model = try Sequential(description, seed: 1)
        XCTAssertEqual(model.shapes, [[1, 28, 28], [20, 24, 24], [20, 24, 24], [20, 12, 12], [50, 8, 8], [50, 8, 8],
                                      [50, 4, 4], [800], [500], [500], [10]])
        XCTAssertEqual(model.parameters.map(\.name), ["0.weight", "0.bias", "3.weight", "3.bias",
                                                      "7.weight", "7.bias", "9.weight", "9.bias"])
        XCTAssertEqual(model.parameters.map(\.value.shape), [[20, 1, 5, 5], [20], [50, 20, 5, 5], [50],
                                                             [500, 800], [500], [10, 500], [10]])
        // The description survives a JSON round trip.
        let encoded = try JSONEncoder().encode(description)
        XCTAssertEqual(try JSONDecoder().decode(ModelDescription.self, from: encoded), description)
    }

    func testShapeErrorsForCommonMistakes() {
        func message(_ layers: [LayerSpec], input: [Int] = [1, 6, 6]) -> String {
            do {
                _ = try Sequential(ModelDescription(input: input, layers: layers), seed: 1)
                return "built"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(message([.maxPool(size: SizePair(2), stride: nil), .maxPool(size: SizePair(2), stride: nil),
                                .maxPool(size: SizePair(2), stride: nil), .flatten, .dense(units: 2)]),
                       "layer 3 (maxpool 2): input 1×1 is smaller than the window 2×2")
        XCTAssertEqual(message([.dense(units: 2)]),
                       "layer 1 (dense 2): input 1×6×6 is not flat; add {\"type\": \"flatten\"} before it")
        XCTAssertEqual(message([.flatten, .dense(units: 3), .relu, .conv(filters: 1, kernel: SizePair(1), stride: SizePair(1), padding: SizePair(0), bias: true)]),
                       "layer 4 (conv 1@1×1): expects an image input C×H×W, found 3")
        XCTAssertEqual(message([.conv(filters: 2, kernel: SizePair(3), stride: SizePair(1), padding: SizePair(0), bias: true)]),
                       "layer 1 (conv 2@3×3): the model must end with flat class scores, found 2×4×4; end with a dense layer")
    }

    func testStrictDecodingNamesKeyPath() {
        func message(_ json: String) -> String {
            do {
                _ = try JSONDecoder().decode(ModelDescription.self, from: Data(json.utf8))
                return "decoded"
            } catch let error as DecodingError { return describe(error) } catch { return "\(error)" }
        }
        XCTAssertEqual(message(#"{"input": [1, 28, 28], "layers": [{"type": "relu"}, {"type": "conv", "filters": -1, "kernel": 5}]}"#),
                       "layers[1].filters must be in 1...1048576, found -1")
        XCTAssertEqual(message(#"{"input": [1, 28, 28], "layers": [{"type": "conv", "filters": 2, "kernal": 5}]}"#),
                       "layers[0].kernal is not a known key (expected one of: type, filters, kernel, stride, padding, bias)")
        XCTAssertEqual(message(#"{"input": [1, 28, 28], "layers": [{"type": "pool"}]}"#),
                       "layers[0].type must be one of \(LayerRegistry.typeNames.joined(separator: ", ")), found \"pool\"")
        XCTAssertTrue(message(#"{"input": [1, 28, 28], "layers": [{"type": "dense", "units": "ten"}]}"#)
                        .hasPrefix("layers[0].units has the wrong type: expected an integer"))
        XCTAssertEqual(message(#"{"input": [1, 28, 28]}"#), "layers is missing")
    }

    /// Every registered layer type refuses a key it does not know, and its JSON survives a
    /// round trip (decode, encode, decode) unchanged.
    func testEveryRegisteredLayerIsStrictAndRoundTrips() throws {
        for (name, cases) in GradientCheckTests.registeredCases.sorted(by: { $0.key < $1.key }) {
            for testCase in cases {
                var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(testCase.json.utf8)) as? [String: Any])
                let spec = try JSONDecoder().decode(LayerSpec.self, from: Data(testCase.json.utf8))
                XCTAssertEqual(try JSONDecoder().decode(LayerSpec.self, from: JSONEncoder().encode(spec)), spec, name)
                object["bogus"] = 1
                do {
                    _ = try JSONDecoder().decode(LayerSpec.self, from: JSONSerialization.data(withJSONObject: object))
                    XCTFail("\(name) accepted an unknown key")
                } catch let error as DecodingError {
                    XCTAssertTrue(describe(error).hasPrefix("bogus is not a known key"), "\(name): \(describe(error))")
                }
            }
        }
    }

    /// A small network overfits one fixed batch, and the same seed gives the same losses.
    func testOverfitsSmallBatchReproducibly() throws {
        func run() throws -> [Float] {
            let description = ModelDescription(input: [1, 8, 8], layers: [
                .conv(filters: 4, kernel: SizePair(3), stride: SizePair(1), padding: SizePair(1), bias: true),
                .relu, .maxPool(size: SizePair(2), stride: nil), .flatten,
                .dense(units: 16), .relu, .dropout(rate: 0.1), .dense(units: 3),
            ])
            let model = try Sequential(description, seed: 42)
            let loss = SoftmaxCrossEntropy()
            let optimizer = SGD(arena: model.arena, momentum: 0.9)
            let x = randomTensor([12, 1, 8, 8], seed: 43)
            let labels: [Int32] = (0..<12).map { Int32($0 % 3) }
            var losses: [Float] = []
            for _ in 0..<150 {
                losses.append(loss.forward(logits: model.forward(x, phase: .training), labels: labels))
                model.zeroGradients()
                model.backward(loss.backward())
                optimizer.step(learningRate: 0.05)
            }
            return losses
        }
        let losses = try run()
        XCTAssertGreaterThan(losses[0], 0.9)   // ≈ ln 3 at the start
        XCTAssertLessThan(losses.last!, 0.05)
        XCTAssertEqual(try run(), losses)
    }
}
