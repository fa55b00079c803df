// Standard output's C stream, reached from C: Swift 6 refuses `stdout`, a mutable C global.
#ifndef CONVNET_STANDARD_OUTPUT_H
#define CONVNET_STANDARD_OUTPUT_H

/// Flushes `stdout`; returns 0 when it and every earlier write to it succeeded, otherwise the
/// error (`errno` of the failed flush, or of the last failed call when an earlier write failed),
/// or -1 when that error is no longer known.
int convnet_flush_standard_output(void);

#endif
