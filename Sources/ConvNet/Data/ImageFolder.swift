import Foundation

/// Datasets stored as folders of PNG images, one sub-folder per class:
/// `<directory>/<class>/*.png` (the common `ROOT/train/…`, `ROOT/test/…` layout).
///
/// Class names are the sorted sub-folder names. Images are read in that class order,
/// then by sorted file name, converted to grey (see `PNG`) and, when their size differs
/// from the model's input, resized to it with `DigitPreprocessor.resize` (area averaging
/// when shrinking), without the digit-specific steps.
public enum ImageFolder {
    /// Loads `<directory>/<class>/*.png` into a dataset of `imageShape` `[1, H, W]` images.
    ///
    /// - Parameter classNames: when given (from the config, or the training folder when
    ///   loading the test folder), the sub-folders must be exactly these names (after
    ///   `folderName`), and labels follow this order rather than the sorted one.
    /// - Throws: `DataError` naming the folder or the first file that cannot be used.
    public static func load(_ directory: String, classNames: [String]?, imageShape: [Int]) throws(DataError) -> Dataset {
        guard imageShape.count == 3, imageShape[0] == 1 else {
            throw DataError(file: directory, "PNG folders hold grey images, but the model's input is \(imageShape.shapeDescription); use 1 channel")
        }
        let (height, width) = (imageShape[1], imageShape[2])
        let folders = try subfolders(of: directory)
        if let classNames, classNames.map(folderName).sorted() != folders {
            throw DataError(file: directory, "has class folders \(folders) but the classes are \(classNames.map(folderName).sorted())")
        }
        guard folders.count >= 2 else {
            throw DataError(file: directory, "needs at least 2 class sub-folders, found \(folders.count)")
        }
        let order = classNames ?? folders
        var images: [UInt8] = [], labels: [UInt8] = []
        for (label, name) in order.enumerated() {
            let folder = "\(directory)/\(folderName(name))"
            for file in try pngFiles(in: folder) {
                var image: GrayImage
                do { image = try PNG.read(contentsOf: "\(folder)/\(file)") } catch { throw DataError(file: error.file, error.message) }
                if image.width != width || image.height != height {
                    image = DigitPreprocessor.resize(image, toHeight: height, width: width)
                }
                images.append(contentsOf: image.pixels)
                labels.append(UInt8(label))
            }
        }
        guard !labels.isEmpty else { throw DataError(file: directory, "holds no .png images in its class folders") }
        return Dataset(images: images, labels: labels, sampleShape: imageShape, classNames: order)
    }

    /// Writes `dataset` as `<directory>/<class>/<index>.png` (index zero-padded, in
    /// dataset order), creating the folders. Class names become folder names, with `/`
    /// replaced by `-`. Returns the number of files written.
    @discardableResult
    public static func write(_ dataset: Dataset, to directory: String) throws(DataError) -> Int {
        guard dataset.sampleShape.count == 3, dataset.sampleShape[0] == 1 else {
            throw DataError(file: directory, "only grey images (1 channel) can be written as PNG, found \(dataset.sampleShape.shapeDescription)")
        }
        let (height, width) = (dataset.sampleShape[1], dataset.sampleShape[2])
        let names = dataset.classNames.map(folderName)
        for name in names {
            do {
                try FileManager.default.createDirectory(atPath: "\(directory)/\(name)", withIntermediateDirectories: true)
            } catch {
                throw DataError(file: "\(directory)/\(name)", "cannot create the folder: \(error.localizedDescription)")
            }
        }
        let digits = String(max(dataset.count - 1, 0)).count
        for index in 0..<dataset.count {
            let pixels = Array(dataset.images[(index * dataset.sampleSize)..<((index + 1) * dataset.sampleSize)])
            let number = String(index)
            let path = "\(directory)/\(names[Int(dataset.labels[index])])/\(String(repeating: "0", count: digits - number.count))\(number).png"
            do {
                try PNG.write(GrayImage(width: width, height: height, pixels: pixels), to: path)
            } catch {
                throw DataError(file: error.file, error.message)
            }
        }
        return dataset.count
    }

    /// A class name usable as a folder name.
    public static func folderName(_ className: String) -> String {
        className.replacingOccurrences(of: "/", with: "-")
    }

    private static func subfolders(of directory: String) throws(DataError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw DataError(file: directory, "no such folder")
        }
        guard isDirectory.boolValue else { throw DataError(file: directory, "is a file, expected a folder of class folders") }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw DataError(file: directory, "cannot list the folder: \(error.localizedDescription)")
        }
        return entries.filter { entry in
            var isFolder: ObjCBool = false
            return !entry.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(directory)/\(entry)", isDirectory: &isFolder) && isFolder.boolValue
        }.sorted()
    }

    private static func pngFiles(in folder: String) throws(DataError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder)
                .filter { $0.lowercased().hasSuffix(".png") && !$0.hasPrefix(".") }
                .sorted()
        } catch {
            throw DataError(file: folder, "cannot list the folder: \(error.localizedDescription)")
        }
    }
}
