/// Placeholder until PNG decoding lands.
public enum ImageFolder {
    /// Loads `directory/<class>/*.png`.
    public static func load(_ directory: String, classNames: [String]?, imageShape: [Int]) throws(DataError) -> Dataset {
        throw DataError(file: directory, "PNG folders are not supported yet")
    }
}
