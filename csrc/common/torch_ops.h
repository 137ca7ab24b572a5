// The PyTorch headers every C++ source of gnnpart._C needs, included first by each of them. setup.py compiles
// this header once into a precompiled header (torch_ops.h.gch beside it, with the sources' own flags), so that
// each source skips parsing ATen and the op registry again; where the compiler cannot use it (other flags,
// another compiler) it reads the header as usual.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
