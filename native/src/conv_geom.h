// The convolution and pooling geometry array documented in soma.h (SOMA_CONV_*), unpacked once; shared by the direct
// loops (conv.cpp) and the fused ReLU + max pooling (relu_max_pool.cpp).
#pragma once
#include "soma.h"
#include <cstdint>

namespace soma {
struct ConvGeom {
  int64_t n, h, w, c, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pl;
  explicit ConvGeom(const int64_t* g)
      : n(g[SOMA_CONV_N]), h(g[SOMA_CONV_H]), w(g[SOMA_CONV_W]), c(g[SOMA_CONV_C]), oh(g[SOMA_CONV_OH]),
        ow(g[SOMA_CONV_OW]), oc(g[SOMA_CONV_OC]), kh(g[SOMA_CONV_KH]), kw(g[SOMA_CONV_KW]), sh(g[SOMA_CONV_SH]),
        sw(g[SOMA_CONV_SW]), dh(g[SOMA_CONV_DH]), dw(g[SOMA_CONV_DW]), pt(g[SOMA_CONV_PAD_TOP]),
        pl(g[SOMA_CONV_PAD_LEFT]) {}
};
}  // namespace soma
