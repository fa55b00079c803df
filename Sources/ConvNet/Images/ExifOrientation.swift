/// The EXIF orientation of a JPEG photo (tag 0x0112 in the APP1 "Exif" segment): how the
/// stored pixels must be turned to appear upright. Cameras and phones store a portrait shot
/// sideways and set this tag rather than rotating the pixels.
///
/// Values, as in the EXIF specification: 1 as stored; 2 mirrored left–right; 3 turned 180°;
/// 4 mirrored top–bottom; 5 transposed (mirrored about the main diagonal); 6 turned 90°
/// clockwise; 7 transversed (mirrored about the other diagonal); 8 turned 90° counter-clockwise.
public enum ExifOrientation {
    /// The orientation stored in a JPEG's EXIF segment, 1 when there is none or it cannot be read.
    /// Every offset is checked against the file: a damaged segment means "as stored".
    public static func read(_ bytes: [UInt8]) -> Int {
        var position = 2  // after SOI
        while position + 4 <= bytes.count, bytes[position] == 0xFF {
            let marker = bytes[position + 1]
            if marker == 0xDA || marker == 0xD9 { break }  // start of scan, end of image: no more headers
            let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            guard length >= 2, position + 2 + length <= bytes.count else { break }
            if marker == 0xE1, let value = orientation(inExif: bytes[(position + 4)..<(position + 2 + length)]) { return value }
            position += 2 + length
        }
        return 1
    }

    /// The orientation tag of an APP1 payload that starts with "Exif\0\0" and a TIFF header.
    private static func orientation(inExif segment: ArraySlice<UInt8>) -> Int? {
        let data = Array(segment)
        guard data.count >= 14, data[0..<6].elementsEqual([0x45, 0x78, 0x69, 0x66, 0, 0]) else { return nil }
        let tiff = 6
        let littleEndian: Bool
        switch (data[tiff], data[tiff + 1]) {
        case (0x49, 0x49): littleEndian = true
        case (0x4D, 0x4D): littleEndian = false
        default: return nil
        }
        func value(_ offset: Int, _ size: Int) -> Int? {
            guard offset >= 0, offset + size <= data.count else { return nil }
            var result = 0
            for index in 0..<size {
                let byte = Int(data[offset + (littleEndian ? size - 1 - index : index)])
                result = result << 8 | byte
            }
            return result
        }
        guard value(tiff + 2, 2) == 42, let directory = value(tiff + 4, 4), let entries = value(tiff + directory, 2) else { return nil }
        for entry in 0..<entries {
            let offset = tiff + directory + 2 + 12 * entry
            guard let tag = value(offset, 2) else { return nil }
            if tag == 0x0112, let orientation = value(offset + 8, 2), (1...8).contains(orientation) { return orientation }
        }
        return nil
    }
}

extension Image {
    /// The image turned upright as EXIF `orientation` (1…8) says; see `ExifOrientation`.
    public func oriented(_ orientation: Int) -> Image {
        guard orientation >= 2 && orientation <= 8 else { return self }
        let swapsSides = orientation >= 5
        let (outputHeight, outputWidth) = swapsSides ? (width, height) : (height, width)
        var output = [UInt8](repeating: 0, count: pixels.count)
        let plane = height * width
        for channel in 0..<channels {
            for row in 0..<outputHeight {
                for column in 0..<outputWidth {
                    // The stored pixel (sourceRow, sourceColumn) shown at (row, column).
                    let (sourceRow, sourceColumn): (Int, Int)
                    switch orientation {
                    case 2: (sourceRow, sourceColumn) = (row, width - 1 - column)
                    case 3: (sourceRow, sourceColumn) = (height - 1 - row, width - 1 - column)
                    case 4: (sourceRow, sourceColumn) = (height - 1 - row, column)
                    case 5: (sourceRow, sourceColumn) = (column, row)
                    case 6: (sourceRow, sourceColumn) = (height - 1 - column, row)
                    case 7: (sourceRow, sourceColumn) = (height - 1 - column, width - 1 - row)
                    default: (sourceRow, sourceColumn) = (column, width - 1 - row)
                    }
                    output[channel * plane + row * outputWidth + column] = pixels[channel * plane + sourceRow * width + sourceColumn]
                }
            }
        }
        return Image(channels: channels, height: outputHeight, width: outputWidth, pixels: output)
    }
}
