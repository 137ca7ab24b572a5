// Which way a row op moves rows, one meaning on every device: the CPU and CUDA kernels of the halo row ops
// (pack_rows, pack_rows_into_, unpack_rows_) are templates over it.
#pragma once

namespace gnnpart {

enum class RowMove {
  Gather,   // to[i] = from[idx[i]]  (pack: rows out of a table)
  Scatter,  // to[idx[i]] = from[i]  (unpack: rows into a table)
};

}  // namespace gnnpart
