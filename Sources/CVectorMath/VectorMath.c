// CVectorMath is header-only (inline functions for Swift); SwiftPM wants one source file per C target.
#include "VectorMath.h"
