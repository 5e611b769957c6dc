// Stand-in for the toolkit's cuda_runtime.h in the emulated build (this folder comes first on the include path):
// kernel files include <cuda_runtime.h> as usual and get the emulated kernel language and runtime.
#pragma once
#include "soma_emu.h"
