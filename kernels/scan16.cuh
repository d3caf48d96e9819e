/* The d_state = 16 selective-scan kernels (scan16_fwd.cu, scan16_bwd.cu): geometry shared by
 * both, so the saved chunk-start states written by one are found by the other. Other state
 * sizes use the generic kernels (scan_fwd.cu, scan_bwd.cu). */
#ifndef BYTELM_SCAN16_CUH
#define BYTELM_SCAN16_CUH

#include "kernels/scan_common.cuh"

#define S16_CH 32 /* channels per block (one warp) */
#define S16_TC 8  /* chunk length: the backward keeps a chunk's states in shared memory */

#endif
