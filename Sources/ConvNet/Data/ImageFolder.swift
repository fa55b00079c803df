import Foundation

/// Datasets stored as folders of images, one sub-folder per class: `<directory>/<class>/*.png`
/// (or `.jpg`, `.jpeg`; the common `ROOT/train/…`, `ROOT/test/…` layout).
///
/// Class names are the sorted sub-folder names. Images are read in that class order, then by
/// sorted file name, decoded to the model's channels (grey or RGB, see `ImageFile`) and
/// prepared for its input size as the config's `data.preprocessing` says (`InputPreparation`),
/// exactly as `infer` will prepare users' images.
public enum ImageFolder {
    /// Loads `<directory>/<class>/*.{png,jpg,jpeg}` into a dataset of `imageShape` `[C, H, W]`
    /// images (C = 1 or 3), each prepared by `preparation`.
    ///
    /// Memory: C·H·W bytes per image at the model's input size, allocated once for all the
    /// files found, plus one file being decoded and prepared at a time: the file, its decoded
    /// pixels (at most `ImageFile.maximumPixels`, refused from the header beyond) and buffers
    /// of the preparation in proportion to them.
    ///
    /// - Parameter classNames: when given (from the config, or the training folder when
    ///   loading the test folder), the sub-folders must be exactly these names, and labels
    ///   follow this order rather than the sorted one.
    /// - Throws: `DataError` naming the folder or the first file that cannot be used; a folder
    ///   of more than `Dataset.maximumClasses` class folders is refused before any image is read.
    public static func load(_ directory: String, classNames: [String]?, imageShape: [Int],
                            preparation: InputPreparation = .resize) throws(DataError) -> Dataset {
        guard imageShape.count == 3, imageShape[0] == 1 || imageShape[0] == 3 else {
            throw DataError(file: directory, "image folders hold grey or RGB images, but the model's input is \(imageShape.shapeDescription); use 1 or 3 channels")
        }
        let (channels, height, width) = (imageShape[0], imageShape[1], imageShape[2])
        let folders = try subfolders(of: directory)
        // Swift compares names by Unicode canonical equivalence: "é" written as one scalar or as
        // e + accent are two folders to the file system but one class name to everything else.
        if Set(folders).count != folders.count, let first = folders.indices.first(where: { index in folders[..<index].contains(folders[index]) }) {
            throw DataError(file: directory, "has two class folders named \(formatFound(folders[first])) in different Unicode forms; rename one")
        }
        if let classNames, classNames.map(folderName).sorted() != folders {
            throw DataError(file: directory, "has class folders \(folders) but the classes are \(classNames.map(folderName).sorted())")
        }
        guard folders.count >= 2 else {
            throw DataError(file: directory, "needs at least 2 class sub-folders, found \(folders.count)")
        }
        guard folders.count <= Dataset.maximumClasses else {
            throw DataError(file: directory, "has \(folders.count) class sub-folders, more than the \(Dataset.maximumClasses) classes a data set can have")
        }
        let order = classNames ?? folders
        var files: [(label: Int, path: String)] = []
        for (label, name) in order.enumerated() {
            let folder = "\(directory)/\(folderName(name))"
            files += try imageFileNames(in: folder).map { (label, "\(folder)/\($0)") }
        }
        // Every image is stored at the model's size as bytes; only one decoded file is held at a time.
        let sampleSize = channels * height * width
        guard canAllocate(files.count * sampleSize) else {
            throw DataError(file: directory, allocationFailure(files.count * sampleSize, for: "its \(files.count) images at \(imageShape.shapeDescription)"))
        }
        var images: [UInt8] = [], labels: [UInt8] = []
        images.reserveCapacity(files.count * sampleSize)
        labels.reserveCapacity(files.count)
        let minimumSide = (preparation.method == .digit ? 16 : 2) * max(height, width)
        for (label, path) in files {
            let image: Image
            do { image = try ImageFile.read(contentsOf: path, channels: channels, minimumSide: minimumSide) } catch {
                throw DataError(file: error.file, error.message)
            }
            switch preparation.prepare(image, channels: channels, height: height, width: width) {
            case .prepared(let input): images.append(contentsOf: input.pixels)
            // A training image without a digit is still an example: the model sees it as the page looks, blank.
            case .noDigit: images.append(contentsOf: repeatElement(0, count: sampleSize))
            }
            labels.append(UInt8(label))
        }
        guard !labels.isEmpty else { throw DataError(file: directory, "holds no .png or .jpg images in its class folders") }
        return Dataset(images: images, labels: labels, sampleShape: imageShape, classNames: order)
    }

    /// The image files `path` names: itself if it is a file, or every `.png`, `.jpg` and
    /// `.jpeg` file in the folder and its sub-folders, in sorted path order.
    public static func imageFiles(under path: String) throws(DataError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        guard let enumerator = FileManager.default.enumerator(atPath: path) else {
            throw DataError(file: path, "cannot list the folder")
        }
        var files: [String] = []
        while let entry = enumerator.nextObject() as? String {
            let name = (entry as NSString).lastPathComponent
            if ImageFile.hasImageExtension(name) && !entry.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
                files.append(path.hasSuffix("/") ? path + entry : "\(path)/\(entry)")
            }
        }
        guard !files.isEmpty else { throw DataError(file: path, "holds no .png, .jpg or .jpeg files") }
        return files.sorted()
    }

    /// Writes `dataset` as `<directory>/<class>/<index>.png` (index zero-padded, in
    /// dataset order; grey or RGB PNGs), creating the folders. Class names are the folder
    /// names, each "/" written as "-" (`folderName`): a name that cannot be one, or two names
    /// that would share a folder (see `folderProblem`), are refused before anything is written,
    /// so nothing lands outside `directory` and no two classes are merged. Returns the number
    /// of files written. `progress` is called with the count written after every 1,000 files.
    /// Files are not synced one by one (an interrupted export is simply run again).
    @discardableResult
    public static func write(_ dataset: Dataset, to directory: String, progress: ((Int) -> Void)? = nil) throws(DataError) -> Int {
        guard dataset.sampleShape.count == 3, dataset.sampleShape[0] == 1 || dataset.sampleShape[0] == 3 else {
            throw DataError(file: directory, "only grey or RGB images can be written as PNG, found \(dataset.sampleShape.shapeDescription)")
        }
        let (channels, height, width) = (dataset.sampleShape[0], dataset.sampleShape[1], dataset.sampleShape[2])
        if let (label, problem) = folderProblem(dataset.classNames) {
            throw DataError(file: directory, "class \(label) is \(formatFound(dataset.classNames[label])), \(problem)")
        }
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
                try PNG.write(Image(channels: channels, height: height, width: width, pixels: pixels), to: path, durable: false)
            } catch {
                throw DataError(file: error.file, error.message)
            }
            if (index + 1) % 1000 == 0 { progress?(index + 1) }
        }
        return dataset.count
    }

    /// Why `className` cannot be the name of a class folder (inside the data set's folder,
    /// and read back by `load`), or nil when it can.
    public static func folderNameProblem(_ className: String) -> String? {
        let className = folderName(className)
        if className.isEmpty { return "it is empty" }
        if className == "." || className == ".." { return "it names the folder itself or its parent" }
        if className.unicodeScalars.contains(where: isControlCharacter) { return "it contains a control or format character" }
        if className.hasPrefix(".") { return "a folder starting with '.' is hidden and not read back" }
        if className.utf8.count > 255 { return "it is \(className.utf8.count) bytes, more than the 255 a file name can have" }
        return nil
    }

    /// The folder a class is stored in: its name with each "/" written as "-", so that
    /// Fashion-MNIST's "T-shirt/top" is the folder `T-shirt-top`.
    public static func folderName(_ className: String) -> String {
        className.replacingOccurrences(of: "/", with: "-")
    }

    /// Why the classes `classNames` cannot be stored one folder each, as the index of the
    /// first class at fault and the reason ("which cannot be a folder name: …", or "which
    /// would share the folder … with class j"), or nil when they can.
    public static func folderProblem(_ classNames: [String]) -> (index: Int, message: String)? {
        var owner: [String: Int] = [:]
        for (index, name) in classNames.enumerated() {
            if let problem = folderNameProblem(name) { return (index, "which cannot be a folder name: \(problem)") }
            let folder = folderName(name)
            if let first = owner[folder] { return (index, "which would share the folder \"\(folder)\" with class \(first)") }
            owner[folder] = index
        }
        return nil
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

    private static func imageFileNames(in folder: String) throws(DataError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).filter(ImageFile.hasImageExtension).sorted()
        } catch {
            throw DataError(file: folder, "cannot list the folder: \(error.localizedDescription)")
        }
    }
}
