// swift-tools-version:6.0
import PackageDescription

/// The engine runs at -O even in the default debug build (`swift run train`),
/// because numeric Swift is 10-20x slower at -Onone.
let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "ConvNet",
    products: [
        .library(name: "ConvNet", targets: ["ConvNet"]),
        .executable(name: "train", targets: ["train"]),
        .executable(name: "infer", targets: ["infer"]),
        .executable(name: "bench", targets: ["bench"]),
        .executable(name: "idx2png", targets: ["idx2png"]),
        .executable(name: "report", targets: ["report"]),
        .executable(name: "export", targets: ["export"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(
            name: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "MallocCounter"),
        // ConvNet's own SGEMM micro-kernel: C, optimized in debug builds too (as the engine is).
        .target(name: "CMatrixKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // Vector square root and the like, inline for Swift (header only).
        .target(name: "CVectorMath", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CPNGRows", dependencies: ["CPNG"]),
        .target(
            name: "ConvNet",
            dependencies: ["CBLAS", "CMatrixKernels", "CVectorMath", "CPNG", "CPNGRows", "CZlib", "CTurboJPEG"],
            swiftSettings: optimized),
        .target(name: "CStandardOutput"),
        .target(
            name: "CommandLineSupport",
            dependencies: ["ConvNet", "CStandardOutput", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(
            name: "ConvNetMPI",
            dependencies: ["ConvNet", "CMPI"]),
        .executableTarget(
            name: "train",
            dependencies: ["ConvNet", "ConvNetMPI", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "infer",
            dependencies: ["ConvNet", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "bench",
            dependencies: ["ConvNet", "MallocCounter", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: optimized),
        .executableTarget(
            name: "idx2png",
            dependencies: ["ConvNet", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "export",
            dependencies: ["ConvNet", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "report",
            dependencies: ["ConvNet", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(
            name: "TestFixtures",
            dependencies: ["ConvNet", "CZlib", "CTurboJPEG"],
            path: "Tests/TestFixtures"),
        .testTarget(
            name: "ConvNetTests",
            dependencies: ["ConvNet", "TestFixtures", "CMatrixKernels", "CVectorMath", "CZlib", "CPNG", "train", "infer", "idx2png", "report", "export"],
            swiftSettings: optimized),
        .testTarget(
            name: "ConvNetFuzzTests",
            dependencies: ["ConvNet", "TestFixtures", "CZlib", "CPNG"],
            swiftSettings: optimized),
    ]
)
