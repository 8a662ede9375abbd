// Test support: the memory regions of simulated_device_policy (simulated_device.hpp), and the
// global operator new / delete that places the program's heap in a region a kernel cannot
// touch. Linked only into the test executables of the simulated_device backend.
//
// Both regions are reserved address space (PROT_NONE, MAP_NORESERVE) whose access is
// switched with mprotect:
//   heap    committed in 64 MiB steps; small blocks come from per-size free lists, large
//           ones are page-aligned and their pages are returned (madvise) when freed;
//   device  each buffer on pages of its own, ending where an inaccessible page begins;
//           freed buffers' pages are returned and their addresses never reused, so a use
//           after free crashes too.
// A SIGSEGV in either region is reported with what it means before the signal goes on to
// the handler that was installed before (Catch2's, which names the test case).
#include "simulated_device.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cxxabi.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace unitsface::test::simulated {
namespace {

constexpr std::size_t page_size = 4096;  // checked against sysconf in reserve()
constexpr std::size_t heap_reserve = std::size_t(256) << 30;
constexpr std::size_t device_reserve = std::size_t(64) << 30;
constexpr std::size_t commit_step = std::size_t(64) << 20;

constexpr std::size_t round_up(std::size_t n, std::size_t a) {
  return (n + a - 1) / a * a;
}

char* reserve(std::size_t bytes) {
  if (static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) != page_size) std::abort();
  void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) std::abort();
  return static_cast<char*>(p);
}

// ---- the heap ----------------------------------------------------------------------------
// Every block is preceded by a 16-byte header: {tag, value}. Small blocks (payload 16 << k,
// k < small_classes) have tag k; large blocks tag `large` and their page count; blocks handed
// out by an over-aligned new tag `aligned` and the distance back to the block they live in.
constexpr std::uint64_t small_classes = 9;  // payloads of 16 .. 4096 bytes
constexpr std::uint64_t tag_large = 100, tag_aligned = 200;
struct header {
  std::uint64_t tag, value;
};
struct free_large {
  free_large* next;
  std::size_t pages;
};

struct heap_state {
  char* base = nullptr;
  std::size_t committed = 0, top = 0;
  void* small_free[small_classes] = {};
  free_large* large_free = nullptr;
  bool open = true;
};
constinit heap_state heap;
constinit std::atomic_flag heap_lock;

struct heap_guard {
  heap_guard() {
    while (heap_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~heap_guard() { heap_lock.clear(std::memory_order_release); }
};

bool in_heap(const void* p) {
  const char* c = static_cast<const char*>(p);
  return heap.base != nullptr && c >= heap.base && c < heap.base + heap_reserve;
}

// Bump-allocates `bytes` (a multiple of `align`, itself at most a page) at an `align` boundary.
char* heap_bump(std::size_t bytes, std::size_t align) {
  if (heap.base == nullptr) heap.base = reserve(heap_reserve);
  const std::size_t at = round_up(heap.top, align);
  if (at + bytes > heap_reserve) throw std::bad_alloc();
  if (at + bytes > heap.committed) {
    const std::size_t grow = round_up(at + bytes - heap.committed, commit_step);
    if (mprotect(heap.base + heap.committed, grow, heap.open ? PROT_READ | PROT_WRITE : PROT_NONE))
      throw std::bad_alloc();
    heap.committed += grow;
  }
  heap.top = at + bytes;
  return heap.base + at;
}

void* heap_allocate(std::size_t n) {
  heap_guard g;
  if (n <= (std::size_t(16) << (small_classes - 1))) {
    std::uint64_t k = 0;
    while ((std::size_t(16) << k) < n) ++k;
    void* p = heap.small_free[k];
    if (p != nullptr) {
      heap.small_free[k] = *static_cast<void**>(p);
      return p;
    }
    char* block = heap_bump(16 + (std::size_t(16) << k), 16);
    *reinterpret_cast<header*>(block) = {k, 0};
    return block + 16;
  }
  const std::size_t pages = round_up(n + 16, page_size) / page_size;
  // First fit among freed large blocks of up to twice the size.
  for (free_large** link = &heap.large_free; *link != nullptr; link = &(*link)->next) {
    free_large* f = *link;
    if (f->pages >= pages && f->pages <= 2 * pages) {
      *link = f->next;
      char* block = reinterpret_cast<char*>(f) - 16;
      *reinterpret_cast<header*>(block) = {tag_large, f->pages};
      return block + 16;
    }
  }
  char* block = heap_bump(pages * page_size, page_size);
  *reinterpret_cast<header*>(block) = {tag_large, pages};
  return block + 16;
}

void heap_free(void* p) {
  if (p == nullptr) return;
  if (!in_heap(p)) {
    std::free(p);  // not ours: cannot happen for memory from operator new
    return;
  }
  header h = *reinterpret_cast<header*>(static_cast<char*>(p) - 16);
  if (h.tag == tag_aligned) {
    heap_free(static_cast<char*>(p) - h.value);
    return;
  }
  heap_guard g;
  if (h.tag < small_classes) {
    *static_cast<void**>(p) = heap.small_free[h.tag];
    heap.small_free[h.tag] = p;
    return;
  }
  // Large: keep the first page (it holds the free-list node), return the others.
  char* block = static_cast<char*>(p) - 16;
  if (h.value > 1) madvise(block + page_size, (h.value - 1) * page_size, MADV_DONTNEED);
  auto* f = reinterpret_cast<free_large*>(p);
  f->next = heap.large_free;
  f->pages = h.value;
  heap.large_free = f;
}

void* heap_allocate_aligned(std::size_t n, std::size_t align) {
  if (align <= 16) return heap_allocate(n);
  char* q = static_cast<char*>(heap_allocate(n + align));
  char* u = reinterpret_cast<char*>(round_up(reinterpret_cast<std::uintptr_t>(q), align));
  if (u != q) *reinterpret_cast<header*>(u - 16) = {tag_aligned, std::uint64_t(u - q)};
  return u;
}

void set_heap_open(bool open) {
  if (heap.open == open) return;
  heap.open = open;
  if (heap.committed > 0)
    mprotect(heap.base, heap.committed, open ? PROT_READ | PROT_WRITE : PROT_NONE);
}

// ---- device memory -----------------------------------------------------------------------
// The records live in static storage: they are read while the heap is closed.
constexpr std::size_t max_buffers = 4096;
struct buffer_record {
  char* pages;
  std::size_t bytes;  // the whole pages
  void* user;
};
struct device_state {
  char* base = nullptr;
  std::size_t top = 0;
  buffer_record live[max_buffers] = {};
  std::size_t count = 0;
  bool open = false;
  int kernels = 0, transfers = 0;  // scope depths
  std::size_t kernels_run = 0;
};
constinit device_state device;

bool in_device(const void* p) {
  const char* c = static_cast<const char*>(p);
  return device.base != nullptr && c >= device.base && c < device.base + device_reserve;
}

void set_device_open(bool open) {
  if (device.open == open) return;
  device.open = open;
  for (std::size_t i = 0; i < device.count; ++i) {
    mprotect(device.live[i].pages, device.live[i].bytes, open ? PROT_READ | PROT_WRITE : PROT_NONE);
  }
}

// The access each region should have now.
void apply() {
  set_device_open(device.kernels + device.transfers > 0);
  set_heap_open(device.kernels == 0);
}

// ---- the SIGSEGV report -------------------------------------------------------------------
struct sigaction previous_action;

void write_text(const char* s) {
  ssize_t r = write(2, s, std::strlen(s));
  (void)r;
}
void write_address(const void* p) {
  char buf[2 + 16 + 1];
  auto v = reinterpret_cast<std::uintptr_t>(p);
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < 16; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
  buf[18] = '\0';
  write_text(buf);
}

void on_segv(int sig, siginfo_t* info, void* context) {
  const void* a = info->si_addr;
  const char* what = nullptr;
  if (in_heap(a) && !heap.open) {
    what = "a kernel read or wrote host (heap) memory";
  } else if (in_device(a) && !device.open) {
    what = "host code read or wrote device memory outside a kernel or a copy";
  } else if (in_device(a)) {
    what =
        "a kernel or copy touched device memory outside every live buffer (past an end, or "
        "freed)";
  }
  if (what != nullptr) {
    write_text("\nsimulated device: ");
    write_text(what);
    write_text(" at ");
    write_address(a);
    write_text("\n");
  }
  // Let the report that follows (Catch2's) use the heap, then pass the signal on.
  device.kernels = 0;
  device.transfers = 0;
  heap_lock.clear();  // the fault may have come from an allocation inside a kernel
  set_heap_open(true);
  if ((previous_action.sa_flags & SA_SIGINFO) != 0) {
    if (previous_action.sa_sigaction != nullptr) previous_action.sa_sigaction(sig, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(sig);
  }
  signal(SIGSEGV, SIG_DFL);
  raise(SIGSEGV);
}

// Catch2 installs its own handler for each test case; ours goes in front of it whenever the
// simulated device is used. It runs on the thread's stack, not on an alternate signal stack:
// Catch2 allocates its alternate stack with new, in the heap a kernel closes.
void ensure_handler() {
  struct sigaction current;
  sigaction(SIGSEGV, nullptr, &current);
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_segv) return;
  struct sigaction ours {};
  ours.sa_sigaction = on_segv;
  ours.sa_flags = SA_SIGINFO;
  sigemptyset(&ours.sa_mask);
  sigaction(SIGSEGV, &ours, &previous_action);
}

}  // namespace

void* device_allocate(std::size_t bytes) {
  ensure_handler();
  if (device.base == nullptr) device.base = reserve(device_reserve);
  const std::size_t span = round_up(bytes, page_size);
  if (device.count == max_buffers || device.top + span + page_size > device_reserve) {
    throw std::bad_alloc();
  }
  char* pages = device.base + device.top;
  device.top += span + page_size;  // the page after the buffer stays inaccessible
  if (device.open) mprotect(pages, span, PROT_READ | PROT_WRITE);
  // End the buffer at the page end (64-byte aligned), so that an overrun faults at once.
  void* user = pages + span - round_up(bytes, 64);
  device.live[device.count++] = {pages, span, user};
  return user;
}

void device_free(void* p) noexcept {
  for (std::size_t i = 0; i < device.count; ++i) {
    if (device.live[i].user == p) {
      mprotect(device.live[i].pages, device.live[i].bytes, PROT_NONE);
      madvise(device.live[i].pages, device.live[i].bytes, MADV_DONTNEED);
      device.live[i] = device.live[--device.count];
      return;
    }
  }
  std::abort();  // not a device buffer: a test-support bug
}

kernel_scope::kernel_scope() {
  ensure_handler();
  ++device.kernels;
  apply();
}
kernel_scope::~kernel_scope() {
  --device.kernels;
  apply();
}
transfer_scope::transfer_scope() {
  ensure_handler();
  ++device.transfers;
  apply();
}
transfer_scope::~transfer_scope() {
  --device.transfers;
  apply();
}

std::size_t kernels_run() noexcept {
  return device.kernels_run;
}
void count_launch() noexcept {
  ++device.kernels_run;
}

namespace {
std::size_t live_bytes() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < device.count; ++i) n += device.live[i].bytes;
  return n;
}
// Copies every live buffer to `host` (save) or back from it; device memory is open.
void copy_live(unsigned char* host, bool save) {
  for (std::size_t i = 0; i < device.count; ++i) {
    const buffer_record& r = device.live[i];
    if (save) {
      std::memcpy(host, r.pages, r.bytes);
    } else {
      std::memcpy(r.pages, host, r.bytes);
    }
    host += r.bytes;
  }
}
}  // namespace

order_check::order_check() : before_(live_bytes()) {
  count_launch();
  copy_live(before_.data(), true);
}

void order_check::between_runs() {
  if (live_bytes() != before_.size()) {
    throw std::logic_error("simulated device: a kernel allocated or freed device memory");
  }
  first_.resize(before_.size());
  copy_live(first_.data(), true);
  copy_live(before_.data(), false);
}

void order_check::finish(const char* kernel) {
  std::vector<unsigned char> second(first_.size());
  copy_live(second.data(), true);
  if (second == first_) return;
  // Name the buffer and the first element that differs.
  std::size_t at = 0;
  while (second[at] == first_[at]) ++at;
  std::size_t buffer = 0, offset = at;
  while (offset >= device.live[buffer].bytes) offset -= device.live[buffer++].bytes;
  const std::size_t into_user =
      offset - static_cast<std::size_t>(static_cast<char*>(device.live[buffer].user) -
                                        device.live[buffer].pages);
  throw std::logic_error(
      "simulated device: kernel " + type_name(kernel) +
      " gives different results when its indices run in the opposite order (a data race on "
      "a GPU): first difference at byte " +
      std::to_string(into_user) + " of a device buffer");
}

std::string type_name(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && d != nullptr ? d : mangled;
  std::free(d);
  return s;
}

}  // namespace unitsface::test::simulated

// ---- the global operator new / delete ------------------------------------------------------
namespace sim = unitsface::test::simulated;

void* operator new(std::size_t n) {
  return sim::heap_allocate(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n) {
  return sim::heap_allocate(n == 0 ? 1 : n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return sim::heap_allocate_aligned(n == 0 ? 1 : n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return sim::heap_allocate_aligned(n == 0 ? 1 : n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
  sim::heap_free(p);
}
void operator delete[](void* p) noexcept {
  sim::heap_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  sim::heap_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  sim::heap_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  sim::heap_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  sim::heap_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  sim::heap_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  sim::heap_free(p);
}
