// Stand-in for CUDA's <cuda_runtime.h> in the CPU emulation: everything lives in cuda_emu.h.
#pragma once
#include "cuda_emu.h"
