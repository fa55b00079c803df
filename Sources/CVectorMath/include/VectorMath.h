// Vector arithmetic Swift's standard library does not vectorise, as inline functions Swift
// imports and inlines: `SIMD16<Float>.squareRoot()` takes each lane's root apart, through
// libm's `sqrtf` for errno's sake (16 branches and scalar roots); these compile to the
// CPU's vector square root.
#ifndef CONVNET_VECTOR_MATH_H
#define CONVNET_VECTOR_MATH_H

// Swift's SIMD16<Float>.
typedef float convnet_float16 __attribute__((ext_vector_type(16)));

// √x per lane, correctly rounded as IEEE 754 requires: the same bits as Float.squareRoot()
// lane by lane (NaN for a negative lane).
static inline __attribute__((always_inline)) convnet_float16 convnet_square_root16(convnet_float16 x) {
    return __builtin_elementwise_sqrt(x);
}

#endif
