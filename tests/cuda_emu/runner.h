// runner.h — kernel registry and `main` of a cuda-emu binary (see README.md).
//
// tests/common/cuda_emu.rs generates one translation unit per kernel module (this header comes
// after cuda_emu.h, whose types it uses, and before the module):
//
//   #include "cuda_emu.h"
//   #include "<abs>/tests/cuda_emu/runner.h"
//   #include "<abs>/kernels/<module>.cu"
//   EMU_KERNEL(rmsnorm_fwd_f32)
//   ...
//
// and runs the binary with a launch script on stdin (all text up to the line `end`, then the raw
// bytes of the input buffers in order):
//
//   cuda-emu 1
//   buffer <dtype> <len> <0|1|2>              one line per buffer, in plan order: 1 input,
//                                             0 zero-filled, 2 uninitialized (0xFF bytes)
//   launch <kernel> <gx> <gy> <gz> <bx> <by> <bz> <arg>...
//        arg: b:<buffer> | i:<int> | u:<unsigned> | f:<float bits, hex> | d:<double bits, hex>
//   output <buffer>                           one line per output, in order
//   end
//
// It writes the raw bytes of the output buffers, in order, to stdout. Any error (unknown kernel,
// argument count or type mismatch, out-of-bounds access, hang) prints `cuda-emu: ...` to stderr
// and exits non-zero.
#pragma once

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace cuda_emu {

/// Element types of buffers, with their sizes.
struct DType {
  const char *name;
  size_t size;
};
inline const DType kDTypes[] = {{"f32", 4}, {"f64", 8}, {"f16", 2}, {"bf16", 2},
                                {"u32", 4}, {"i64", 8}, {"u8", 1},  {"i32", 4}};

/// One device buffer: its bytes end exactly at an inaccessible guard page, so that an access
/// past its last element faults (reported by the SIGSEGV handler).
struct Buffer {
  const DType *dtype = nullptr;
  size_t len = 0;
  bool input = false;
  bool uninit = false;  // filled with 0xFF bytes (NaN for floats) instead of zeros
  char *data = nullptr;
  char *map = nullptr;  // start of the mapping (front guard page)
  size_t map_len = 0;
};

inline std::vector<Buffer> g_buffers;

enum class ArgKind { Buf, I32, U32, F32, F64 };
struct Arg {
  ArgKind kind;
  uint64_t v;  // buffer index, or the value's bits
};
inline const char *arg_kind_name(ArgKind k) {
  switch (k) {
    case ArgKind::Buf: return "buffer";
    case ArgKind::I32: return "I32 (int)";
    case ArgKind::U32: return "U32 (unsigned int)";
    case ArgKind::F32: return "F32 (float)";
    case ArgKind::F64: return "F64 (double)";
  }
  return "?";
}

// ---- C++ parameter types ↔ plan arguments -----------------------------------------------------

/// The buffer dtype a pointee type requires, or nullptr when only its size is checked.
template <class T> const char *pointee_dtype() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, float>) return "f32";
  else if constexpr (std::is_same_v<U, double>) return "f64";
  else if constexpr (std::is_same_v<U, __half>) return "f16";
  else if constexpr (std::is_same_v<U, __nv_bfloat16>) return "bf16";
  else if constexpr (std::is_same_v<U, unsigned int>) return "u32";
  else if constexpr (std::is_same_v<U, int>) return "i32";
  else if constexpr (std::is_same_v<U, int64_t> || std::is_same_v<U, long long>) return "i64";
  else return nullptr;
}

template <class P> std::string param_name() {
  if constexpr (std::is_pointer_v<P>) {
    using T = std::remove_pointer_t<P>;
    std::string s = std::is_const_v<T> ? "const " : "";
    const char *d = pointee_dtype<T>();
    if (d) return s + d + "*";
    if constexpr (std::is_void_v<std::remove_cv_t<T>>) return s + "void*";
    return s + "<" + std::to_string(sizeof(T)) + "-byte type>*";
  } else if constexpr (std::is_same_v<P, int>) {
    return "int";
  } else if constexpr (std::is_same_v<P, unsigned>) {
    return "unsigned int";
  } else if constexpr (std::is_same_v<P, float>) {
    return "float";
  } else if constexpr (std::is_same_v<P, double>) {
    return "double";
  } else {
    return "<" + std::to_string(sizeof(P)) + "-byte type>";
  }
}

/// Converts argument `i` of a launch of `kernel` to the kernel's parameter type `P`, or fails
/// naming the kernel, the argument index, the parameter type and the given argument.
template <class P> P convert_arg(const char *kernel, size_t i, const Arg &a) {
  auto mismatch = [&](const std::string &given) {
    fail("%s: argument %zu: the kernel expects %s, the plan gives %s", kernel, i,
         param_name<P>().c_str(), given.c_str());
  };
  if constexpr (std::is_pointer_v<P>) {
    using T = std::remove_cv_t<std::remove_pointer_t<P>>;
    if (a.kind != ArgKind::Buf) mismatch(arg_kind_name(a.kind));
    const Buffer &b = g_buffers[a.v];
    const std::string given = "buffer " + std::to_string(a.v) + " (" + b.dtype->name + ")";
    if constexpr (std::is_void_v<T> || std::is_same_v<T, char> ||
                  std::is_same_v<T, unsigned char>) {
      // untyped: any buffer
    } else if (const char *d = pointee_dtype<T>()) {
      if (strcmp(d, b.dtype->name) != 0) mismatch(given);
    } else if (sizeof(T) % b.dtype->size != 0) {
      mismatch(given);
    }
    return reinterpret_cast<P>(b.data);
  } else if constexpr (std::is_same_v<P, int>) {
    if (a.kind != ArgKind::I32) mismatch(arg_kind_name(a.kind));
    return int(int32_t(uint32_t(a.v)));
  } else if constexpr (std::is_same_v<P, unsigned>) {
    if (a.kind != ArgKind::U32) mismatch(arg_kind_name(a.kind));
    return unsigned(a.v);
  } else if constexpr (std::is_same_v<P, float>) {
    if (a.kind != ArgKind::F32) mismatch(arg_kind_name(a.kind));
    return std::bit_cast<float>(uint32_t(a.v));
  } else if constexpr (std::is_same_v<P, double>) {
    if (a.kind != ArgKind::F64) mismatch(arg_kind_name(a.kind));
    return std::bit_cast<double>(a.v);
  } else {
    fail("%s: argument %zu: parameter type %s has no plan argument kind", kernel, i,
         param_name<P>().c_str());
  }
}

using Runner = std::function<void(const char *, dim3, dim3, const std::vector<Arg> &)>;

inline std::map<std::string, Runner> &registry() {
  static std::map<std::string, Runner> r;
  return r;
}

template <class... P, size_t... I>
std::tuple<P...> convert_args(const char *k, const std::vector<Arg> &a, std::index_sequence<I...>) {
  return std::tuple<P...>{convert_arg<P>(k, I, a[I])...};
}

/// Registers kernel `fn` under `name`; its launches check their arguments against `P...`.
template <class... P> bool register_kernel(const char *name, void (*fn)(P...)) {
  registry()[name] = [fn](const char *k, dim3 grid, dim3 block, const std::vector<Arg> &args) {
    if (args.size() != sizeof...(P))
      fail("%s: the kernel takes %zu arguments, the plan gives %zu", k, sizeof...(P),
           args.size());
    const auto values = convert_args<P...>(k, args, std::index_sequence_for<P...>{});
    launch(k, grid, block, [&] { std::apply(fn, values); });
  };
  return true;
}

// ---- buffers with guard pages -------------------------------------------------------------------

inline size_t page_size() { return size_t(sysconf(_SC_PAGESIZE)); }

inline void alloc_buffer(Buffer &b) {
  const size_t bytes = b.len * b.dtype->size, page = page_size();
  const size_t data_pages = (bytes + page - 1) / page;
  b.map_len = (data_pages + 2) * page;
  void *m = mmap(nullptr, b.map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) fail("cannot map %zu bytes", b.map_len);
  b.map = static_cast<char *>(m);
  if (data_pages && mprotect(b.map + page, data_pages * page, PROT_READ | PROT_WRITE) != 0)
    fail("mprotect failed");
  b.data = b.map + page + data_pages * page - bytes;  // zero-filled, ends at the back guard
}

inline void write_str(const char *s) {
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}
inline void write_num(uint64_t v) {
  char buf[24];
  int i = 23;
  buf[i] = 0;
  do buf[--i] = char('0' + v % 10), v /= 10;
  while (v);
  write_str(buf + i);
}

/// SIGSEGV/SIGBUS/SIGFPE: names the kernel and, for a guard-page hit, the buffer
/// (async-signal-safe).
inline void on_fault(int sig, siginfo_t *info, void *) {
  write_str("cuda-emu: ");
  write_str(g_kernel.load());
  const char *addr = static_cast<const char *>(info->si_addr);
  bool found = false;
  if (sig != SIGFPE) {
    for (size_t i = 0; i < g_buffers.size() && !found; ++i) {
      const Buffer &b = g_buffers[i];
      const size_t bytes = b.len * b.dtype->size;
      if (addr >= b.data + bytes && addr < b.map + b.map_len) {
        write_str(": out-of-bounds access past the end of buffer ");
        write_num(i);
        write_str(" (");
        write_num(b.len);
        write_str(" elements): byte ");
        write_num(uint64_t(addr - b.data));
        found = true;
      } else if (addr >= b.map && addr < b.data) {
        write_str(": out-of-bounds access before the start of buffer ");
        write_num(i);
        write_str(": ");
        write_num(uint64_t(b.data - addr));
        write_str(" bytes before");
        found = true;
      }
    }
  }
  if (!found)
    write_str(sig == SIGFPE ? ": arithmetic fault (integer division by zero?)"
                            : ": invalid memory access (not near any buffer)");
  write_str("\n");
  _exit(3);
}

// ---- the launch script --------------------------------------------------------------------------

/// Splits `text` into whitespace-separated words.
inline std::vector<std::string> words(const std::string &line) {
  std::vector<std::string> w;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && isspace((unsigned char)line[i])) ++i;
    size_t j = i;
    while (j < line.size() && !isspace((unsigned char)line[j])) ++j;
    if (j > i) w.push_back(line.substr(i, j - i));
    i = j;
  }
  return w;
}

inline uint64_t parse_u64(const std::string &s, int base, const char *what) {
  char *end = nullptr;
  errno = 0;
  const unsigned long long v = strtoull(s.c_str(), &end, base);
  if (s.empty() || *end || errno) fail("script: bad %s '%s'", what, s.c_str());
  return v;
}

inline Arg parse_arg(const std::string &s) {
  if (s.size() < 3 || s[1] != ':') fail("script: bad argument '%s'", s.c_str());
  const std::string v = s.substr(2);
  switch (s[0]) {
    case 'b': {
      const uint64_t i = parse_u64(v, 10, "buffer index");
      if (i >= g_buffers.size())
        fail("script: buffer %llu of %zu", (unsigned long long)i, g_buffers.size());
      return {ArgKind::Buf, i};
    }
    case 'i': {
      char *end = nullptr;
      const long long x = strtoll(v.c_str(), &end, 10);
      if (*end || x < INT32_MIN || x > INT32_MAX) fail("script: bad int '%s'", v.c_str());
      return {ArgKind::I32, uint64_t(uint32_t(int32_t(x)))};
    }
    case 'u': return {ArgKind::U32, parse_u64(v, 10, "unsigned") & 0xffffffffu};
    case 'f': return {ArgKind::F32, parse_u64(v, 16, "float bits") & 0xffffffffu};
    case 'd': return {ArgKind::F64, parse_u64(v, 16, "double bits")};
  }
  fail("script: bad argument kind '%s'", s.c_str());
}

struct LaunchSpec {
  std::string kernel;
  dim3 grid, block;
  std::vector<Arg> args;
};

inline int run_main() {
  // 1 MiB stacks (CUDA gives a thread 1 KiB by default): a 1024-thread launch then reserves
  // 1 GiB of address space instead of 8.
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) == 0 && pthread_attr_setstacksize(&attr, size_t(1) << 20) == 0)
    pthread_setattr_default_np(&attr);
  struct sigaction sa{};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  sigaction(SIGFPE, &sa, nullptr);

  // Read all of stdin.
  std::string in;
  char chunk[1 << 16];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) in.append(chunk, n);

  std::vector<LaunchSpec> launches;
  std::vector<size_t> outputs;
  size_t pos = 0;
  bool ended = false, header = false;
  while (!ended) {
    const size_t nl = in.find('\n', pos);
    if (nl == std::string::npos) fail("script: missing 'end' line");
    const auto w = words(in.substr(pos, nl - pos));
    pos = nl + 1;
    if (w.empty()) continue;
    if (!header) {
      if (w.size() != 2 || w[0] != "cuda-emu" || w[1] != "1") fail("script: bad header");
      header = true;
    } else if (w[0] == "buffer" && w.size() == 4) {
      Buffer b;
      for (const auto &d : kDTypes)
        if (w[1] == d.name) b.dtype = &d;
      if (!b.dtype) fail("script: unsupported dtype '%s'", w[1].c_str());
      b.len = parse_u64(w[2], 10, "buffer length");
      if (w[3] != "0" && w[3] != "1" && w[3] != "2") fail("script: buffer kind '%s'", w[3].c_str());
      b.input = w[3] == "1";
      b.uninit = w[3] == "2";
      g_buffers.push_back(b);
    } else if (w[0] == "launch" && w.size() >= 8) {
      LaunchSpec l;
      l.kernel = w[1];
      unsigned d[6];
      for (int i = 0; i < 6; ++i) d[i] = unsigned(parse_u64(w[2 + i], 10, "launch dimension"));
      l.grid = dim3(d[0], d[1], d[2]);
      l.block = dim3(d[3], d[4], d[5]);
      for (size_t i = 8; i < w.size(); ++i) l.args.push_back(parse_arg(w[i]));
      launches.push_back(std::move(l));
    } else if (w[0] == "output" && w.size() == 2) {
      const uint64_t i = parse_u64(w[1], 10, "output index");
      if (i >= g_buffers.size())
        fail("script: output %llu of %zu", (unsigned long long)i, g_buffers.size());
      outputs.push_back(i);
    } else if (w[0] == "end" && w.size() == 1) {
      ended = true;
    } else {
      fail("script: bad line starting with '%s'", w[0].c_str());
    }
  }

  // Buffers: inputs from the data after `end`, the rest zero-filled or 0xFF-filled.
  for (auto &b : g_buffers) {
    alloc_buffer(b);
    if (b.uninit) memset(b.data, 0xFF, b.len * b.dtype->size);
    if (!b.input) continue;
    const size_t bytes = b.len * b.dtype->size;
    if (in.size() - pos < bytes) fail("script: input data ends early");
    memcpy(b.data, in.data() + pos, bytes);
    pos += bytes;
  }
  if (pos != in.size()) fail("script: %zu bytes of input data left over", in.size() - pos);

  // Watchdog: a __syncthreads() or shuffle not reached by every thread deadlocks.
  const char *t = getenv("CUDA_EMU_TIMEOUT_S");
  const long timeout = t ? atol(t) : 120;
  std::thread([timeout] {
    std::this_thread::sleep_for(std::chrono::seconds(timeout));
    fail("%s did not finish within %ld s (CUDA_EMU_TIMEOUT_S): a __syncthreads() or shuffle "
         "that not every thread reaches?",
         g_kernel.load(), timeout);
  }).detach();

  for (const auto &l : launches) {
    const auto it = registry().find(l.kernel);
    if (it == registry().end()) {
      std::string known;
      for (const auto &k : registry()) known += " " + k.first;
      fail("kernel '%s' is not defined in this module (defined:%s)", l.kernel.c_str(),
           known.c_str());
    }
    it->second(it->first.c_str(), l.grid, l.block, l.args);
  }

  for (const size_t i : outputs) {
    const Buffer &b = g_buffers[i];
    const size_t bytes = b.len * b.dtype->size;
    if (fwrite(b.data, 1, bytes, stdout) != bytes) fail("cannot write output %zu", i);
  }
  fflush(stdout);
  _Exit(0);  // skip destructors (the watchdog thread is still sleeping)
}

}  // namespace cuda_emu

/// Registers one `extern "C"` kernel of the included module.
#define EMU_KERNEL(name) \
  static const bool cuda_emu_registered_##name = ::cuda_emu::register_kernel(#name, &name);

int main() { return cuda_emu::run_main(); }
