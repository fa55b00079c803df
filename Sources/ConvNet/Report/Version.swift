/// ConvNet's version, printed by every executable's `--version`.
public enum ConvNetVersion {
    /// Semantic version of this source tree.
    public static let string = "0.3.0"
}
