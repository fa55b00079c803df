/// Recognises what a file that should have been a PNG actually is, from its first bytes,
/// so a rejection can say "that is a JPEG" instead of "bad signature".
enum FileSignature {
    /// The 8 bytes every PNG starts with: 89 'P' 'N' 'G' CR LF SUB LF. The CR LF and LF
    /// catch files damaged by a text-mode transfer, the high first byte 7-bit transfers.
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Whether `bytes` starts with the complete PNG signature.
    static func isPNG(_ bytes: [UInt8]) -> Bool {
        bytes.count >= png.count && bytes[0..<png.count].elementsEqual(png)
    }

    /// Why `bytes` (not empty, not starting with the PNG signature) is not a PNG file, or, with
    /// `acceptingJPEG`, neither a PNG nor a JPEG file.
    static func rejection(of bytes: [UInt8], acceptingJPEG: Bool = false) -> String {
        let expected = acceptingJPEG ? "a PNG or JPEG file" : "a PNG file"
        if bytes.count < png.count && png.starts(with: bytes) {
            return "truncated PNG: the file ends after \(bytes.count) bytes of the signature"
        }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            return "damaged PNG signature (was the file transferred in text mode?)"
        }
        if let known = knownFormats.first(where: { bytes.starts(with: $0.signature) }) {
            let hex = known.signature.map(hexByte).joined(separator: " ")
            return "not \(expected) (it starts with the \(known.name) signature \(hex))"
        }
        if looksLikeText(bytes.prefix(256)) {
            return "not \(expected) (it starts with text)"
        }
        let hex = bytes.prefix(8).map(hexByte).joined(separator: " ")
        return "not \(expected) (it starts with the bytes \(hex))"
    }

    /// Image and container formats a user may hand over by mistake, with their magic numbers.
    private static let knownFormats: [(name: String, signature: [UInt8])] = [
        ("JPEG", [0xFF, 0xD8, 0xFF]),
        ("GIF", Array("GIF8".utf8)),
        ("BMP", Array("BM".utf8)),
        ("TIFF", [0x49, 0x49, 0x2A, 0x00]),
        ("TIFF", [0x4D, 0x4D, 0x00, 0x2A]),
        ("RIFF (WebP)", Array("RIFF".utf8)),
        ("gzip", [0x1F, 0x8B]),
        ("PDF", Array("%PDF".utf8)),
        ("IDX image file", [0x00, 0x00, 0x08, 0x03]),
    ]

    /// Whether `bytes` is valid UTF-8 (allowing a sequence cut at the end) without control
    /// characters other than tab, CR and LF.
    private static func looksLikeText(_ bytes: ArraySlice<UInt8>) -> Bool {
        let noControls = bytes.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard noControls else { return false }
        return (0...min(3, bytes.count - 1)).contains { cut in
            String(validating: bytes.dropLast(cut), as: UTF8.self) != nil
        }
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
