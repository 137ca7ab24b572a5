// The Python module gnnpart._C. Importing it loads this shared library, whose
// static initialisers register every op of the `gnnpart` namespace with the
// PyTorch dispatcher (see TORCH_LIBRARY_FRAGMENT in csrc/<area>/<op>.cpp).
// The ops are then reached as torch.ops.gnnpart.<name>.
#include <Python.h>

extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",  // name
      "gnnpart's compiled ops; call them through torch.ops.gnnpart",
      -1,    // no per-module state
      nullptr,
  };
  return PyModule_Create(&module_def);
}
}
