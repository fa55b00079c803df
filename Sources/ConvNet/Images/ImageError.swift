/// Why an image file could not be read, decoded, encoded or written.
///
/// `message` says what is wrong in words a user can act on ("not a PNG file (it starts with
/// the JPEG signature FF D8 FF)", "permission denied"); `file` names the path, or the name the
/// caller gave to bytes decoded from memory.
public struct ImageError: ConvNetError, Equatable {
    /// The path or name of the image.
    public var file: String
    /// What went wrong, without the file name.
    public var message: String

    /// An error about `file`.
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    /// `"<file>: <message>"`.
    public var description: String { oneLine("\(file): \(message)") }
}
