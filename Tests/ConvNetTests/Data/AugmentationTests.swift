import Foundation
import XCTest
@testable import ConvNet

/// Augmentation: its config, determinism, identity when off, each transform checked against
/// its inverse, and independence from the thread count.
final class AugmentationTests: XCTestCase {
    override func tearDown() { Parallelism.threads = 1 }

    /// A 1×12×10 image with a distinct value at every pixel (1…120), and its dataset.
    let image: [UInt8] = (0..<120).map { UInt8($0 + 1) }
    var dataset: Dataset { Dataset(images: image + image.reversed(), labels: [0, 1], sampleShape: [1, 12, 10], classNames: ["a", "b"]) }

    /// `draw` applied to the test image, as 0…255 values (no normalisation).
    private func apply(_ draw: Augmentation.Draw, to pixels: [UInt8]? = nil) -> [Float] {
        let source = pixels ?? image
        var output = [Float](repeating: .nan, count: source.count)
        let identity = Normalization.none
        source.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { target in
                Augmentation.apply(draw, source: input.baseAddress!, channels: 1, height: 12, width: 10,
                                   tables: identity.lookupTables.map { $0.map { $0 * 255 } }, scale: [1], offset: [0],
                                   into: target.baseAddress!)
            }
        }
        return output
    }

    func testConfig() throws {
        func decode(_ json: String) throws -> Augmentation { try JSONDecoder().decode(Augmentation.self, from: Data(json.utf8)) }
        let full = try decode(#"{"crop": {"padding": 2}, "flip": true, "affine": {"rotation": 10, "translation": 0.1, "scale": [0.9, 1.1]}, "erasing": {"probability": 0.5}}"#)
        XCTAssertEqual(full.crop?.padding, 2)
        XCTAssertTrue(full.flip)
        XCTAssertEqual(full.affine?.scale, [0.9, 1.1])
        XCTAssertEqual(full.erasing?.area, [0.02, 0.33])
        XCTAssertTrue(full.isActive)
        XCTAssertFalse(try decode("{}").isActive)
        XCTAssertFalse(try decode(#"{"flip": false, "erasing": {"probability": 0}}"#).isActive)
        for bad in [#"{"crop": {"padding": 0}}"#, #"{"rotate": 10}"#, #"{"affine": {"scale": [1.2, 0.8]}}"#,
                    #"{"erasing": {"probability": 2}}"#, #"{"crop": {"padding": 2, "fill": 1}}"#] {
            XCTAssertThrowsError(try decode(bad), bad)
        }
    }

    /// The same (seed, epoch, image) always draws the same; another epoch or image draws differently.
    func testDrawsAreFunctionsOfSeedEpochAndImage() {
        let augmentation = Augmentation(crop: .init(padding: 3), flip: true, affine: .init(rotation: 15, translation: 0.1, scale: [0.8, 1.2]),
                                        erasing: .init(probability: 1, area: [0.05, 0.2], aspect: [0.5, 2]))
        let first = augmentation.draw(key: Augmentation.key(seed: 7, epoch: 2, image: 5), height: 12, width: 10)
        XCTAssertEqual(augmentation.draw(key: Augmentation.key(seed: 7, epoch: 2, image: 5), height: 12, width: 10), first)
        var differing = 0
        for other in [Augmentation.key(seed: 7, epoch: 3, image: 5), Augmentation.key(seed: 7, epoch: 2, image: 6), Augmentation.key(seed: 8, epoch: 2, image: 5)] {
            if augmentation.draw(key: other, height: 12, width: 10) != first { differing += 1 }
        }
        XCTAssertEqual(differing, 3)
        // Over many images each part varies within its range.
        let draws = (0..<400).map { augmentation.draw(key: Augmentation.key(seed: 1, epoch: 0, image: $0), height: 12, width: 10) }
        XCTAssertEqual(Set(draws.map(\.shift.rows)), Set(-3...3))
        XCTAssertEqual(Double(draws.filter(\.flipped).count) / 400, 0.5, accuracy: 0.08)
        XCTAssertTrue(draws.allSatisfy { abs($0.affine!.angle) <= 15 * Double.pi / 180 && $0.affine!.scale >= 0.8 && $0.affine!.scale <= 1.2 })
        XCTAssertTrue(draws.allSatisfy { $0.erased != nil && $0.erased!.rows.upperBound <= 12 && $0.erased!.columns.upperBound <= 10 })
    }

    /// Off (no augmentation, or one with every part off) the loader gives exactly the plain images.
    func testIdentityWhenOff() {
        let plain = BatchLoader(normalization: Normalization(mean: 0.3, std: 0.2))
        plain.load(dataset, range: 0..<2)
        for augmentation in [nil, Augmentation(), Augmentation(erasing: .init(probability: 0, area: [0.1, 0.2], aspect: [1, 1]))] {
            let loader = BatchLoader(normalization: Normalization(mean: 0.3, std: 0.2))
            [Int32(0), 1].withUnsafeBufferPointer { loader.load(dataset, indices: $0, augmentation: augmentation, seed: 3, epoch: 1) }
            XCTAssertEqual(loader.images.values, plain.images.values)
        }
        // A draw of nothing is the identity too, on the affine path (angle 0, scale 1, no shift).
        var still = Augmentation.Draw()
        XCTAssertEqual(apply(still), image.map(Float.init))
        still.affine = (0, 1, 0, 0)
        XCTAssertEqual(apply(still), image.map(Float.init))
    }

    /// Flipping twice restores the image; shifting and shifting back restores every pixel that
    /// stayed inside; the exact and the affine paths agree on a pure shift with a flip.
    func testFlipAndShiftAgainstTheirInverses() {
        var flip = Augmentation.Draw()
        flip.flipped = true
        let once = apply(flip)
        XCTAssertEqual(once[0], 10)  // (0, 0) shows (0, 9)
        XCTAssertEqual(apply(flip, to: once.map { UInt8($0) }), image.map(Float.init))
        var shift = Augmentation.Draw()
        shift.shift = (2, -3)
        let shifted = apply(shift)
        var back = Augmentation.Draw()
        back.shift = (-2, 3)
        let restored = apply(back, to: shifted.map { UInt8($0) })
        for row in 0..<10 { for column in 3..<10 { XCTAssertEqual(restored[row * 10 + column], Float(image[row * 10 + column])) } }
        XCTAssertEqual(shifted[0], 0, "shifted in from outside: black")
        var both = Augmentation.Draw()
        both.shift = (1, 2); both.flipped = true
        var bothAffine = both
        bothAffine.affine = (0, 1, 0, 0)
        XCTAssertEqual(apply(bothAffine), apply(both))
    }

    /// Rotating by θ then by −θ gives the centre of a smooth image back within interpolation error;
    /// scaling by 2 then by ½ likewise.
    func testRotationAndScaleAgainstTheirInverses() {
        // A smooth 12×10 image: v = 100 + 6·row + 4·column.
        let smooth: [UInt8] = (0..<120).map { (index: Int) -> UInt8 in UInt8(100 + 6 * (index / 10) + 4 * (index % 10)) }
        for (forward, backward) in [((0.3, 1.0), (-0.3, 1.0)), ((0.0, 2.0), (0.0, 0.5))] {
            var there = Augmentation.Draw(), again = Augmentation.Draw()
            there.affine = (forward.0, forward.1, 0, 0)
            again.affine = (backward.0, backward.1, 0, 0)
            let restored = apply(again, to: apply(there, to: smooth).map { UInt8($0.rounded()) })
            for row in 4..<8 { for column in 3..<7 {
                XCTAssertEqual(restored[row * 10 + column], Float(smooth[row * 10 + column]), accuracy: 2, "\(forward) at (\(row), \(column))")
            } }
        }
        // A quarter turn moves the top-left region to the top-right (turning the image clockwise on screen).
        var quarter = Augmentation.Draw()
        quarter.affine = (Double.pi / 2, 1, 0, 0)
        var square = [UInt8](repeating: 0, count: 120)
        square[1 * 10 + 1] = 200  // near the top-left corner
        let turned = apply(quarter, to: square)
        let brightest = turned.indices.max { turned[$0] < turned[$1] }!
        XCTAssertGreaterThan(brightest % 10, 5, "column of \(brightest)")
        XCTAssertLessThan(brightest / 10, 6, "row of \(brightest)")
    }

    /// Erasing sets exactly its rectangle to 0 (the mean, after normalisation) and nothing else.
    func testErasingSetsItsRectangle() {
        var erase = Augmentation.Draw()
        erase.erased = (2..<5, 3..<7)
        let output = apply(erase)
        for row in 0..<12 { for column in 0..<10 {
            let inside = (2..<5).contains(row) && (3..<7).contains(column)
            XCTAssertEqual(output[row * 10 + column], inside ? 0 : Float(image[row * 10 + column]))
        } }
    }

    /// An augmented batch is the same on 1, 2 and 3 workers, and each image's result does not
    /// depend on the batch it is in.
    func testIndependentOfThreadsAndBatch() {
        let augmentation = Augmentation(crop: .init(padding: 2), flip: true, affine: .init(rotation: 10, translation: 0.1, scale: [0.9, 1.1]),
                                        erasing: .init(probability: 0.5, area: [0.05, 0.2], aspect: [0.5, 2]))
        let data = MNIST.test.slice(0..<50)
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            Parallelism.threads = threads
            let loader = BatchLoader(normalization: Normalization(mean: 0.13, std: 0.31))
            let order: [Int32] = (0..<50).map { Int32(($0 * 7) % 50) }
            order.withUnsafeBufferPointer { loader.load(data, indices: $0, augmentation: augmentation, seed: 9, epoch: 4) }
            results.append(loader.images.values)
        }
        XCTAssertEqual(results[1], results[0])
        XCTAssertEqual(results[2], results[0])
        let single = BatchLoader(normalization: Normalization(mean: 0.13, std: 0.31))
        [Int32(7)].withUnsafeBufferPointer { single.load(data, indices: $0, augmentation: augmentation, seed: 9, epoch: 4) }
        XCTAssertEqual(single.images.values, Array(results[0][784..<1568]), "image 7 is slot 1 of the batch")
    }
}
