// Schemas of the halo-exchange row ops. Kernels: csrc/comm/cpu/ and csrc/comm/cuda/.
//
//   pack_rows(src, index)              -> src[index]            (gather rows into a send buffer)
//   pack_rows_into_(src, index, out)   -> out = src[index]      (the same, into a buffer kept between calls)
//   unpack_rows_(out, index, rows)     -> out[index] = rows     (write received rows into halo slots)
//   scatter_add_rows_(out, index, rows)-> out[index] += rows    (add returned gradients; repeats allowed)
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def("pack_rows(Tensor src, Tensor index) -> Tensor");
  m.def("pack_rows_into_(Tensor src, Tensor index, Tensor(a!) out) -> ()");
  m.def("unpack_rows_(Tensor(a!) out, Tensor index, Tensor rows) -> ()");
  m.def("scatter_add_rows_(Tensor(a!) out, Tensor index, Tensor rows) -> ()");
}
