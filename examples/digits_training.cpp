// digits_training: trains a small embedding network on real data with the UniTSFace embedded
// loss (CosFace + USS-m over the feature memory) and verifies it on identities it never saw.
//
// The data: the UCI hand-written digits (examples/data/README.md), 1,797 8x8 images. The
// digits 0-6 are the training identities; 7, 8 and 9 are held out, as a face-recognition model
// is tested on people who were not in its training set. Every pair of held-out images is
// scored by the cosine of their embeddings, and the library's metrics turn the scores into
// TAR@FAR, EER, 10-fold accuracy, and the accuracy at the unified threshold t = b / s that the
// USS loss learned during training.
//
// The model: 64 -> 128 (ReLU) -> 32, on plain arrays, with its backward written by hand. The
// losses normalise the embedding, so the network's output needs no normalisation layer. The
// class weights W (7 x 32) and the USS bias b are trained too: the losses hold no optimiser,
// so each step applies SGD with momentum to the network and W from the gradients the step
// wrote, and to b from the result's grad_bias: b is this program's variable, bound to the USS
// loss with bind_bias (the loss reads it each step and writes its initialisation into it).
//
// Then the same network (same seed: same initial weights, same batches) is trained with
// CosFace alone, and the last rows of both runs are printed side by side.
//
// Exits 0 when the embedded-loss training improved the held-out verification over the
// untrained network (lower EER and higher 10-fold accuracy, both measured in this run), 1
// when it did not, 2 on bad arguments or an unreadable data file.
//
//   digits_training [--epochs N] [--seed S] [--data PATH] [--quick]
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "unitsface/losses.hpp"
#include "unitsface/metrics.hpp"

#ifndef UNITSFACE_DIGITS_DATA
#define UNITSFACE_DIGITS_DATA "examples/data/digits.csv.gz"
#endif

namespace uf = unitsface;
namespace ufl = unitsface::losses;
namespace um = unitsface::metrics;
using T = float;
using uf::index_t;

namespace {

constexpr index_t pixels = 64, classes = 10, hidden = 128, dim = 32;
constexpr int first_held_out = 7;  // digits 0-6 train, 7-9 are held out

// ---- data -----------------------------------------------------------------------------------

struct digits {
  std::vector<T> x;        // n x 64, pixels scaled to [0, 1]
  std::vector<index_t> y;  // n labels 0..9
  index_t size() const { return index_t(y.size()); }
};

[[noreturn]] void data_error(const std::string& path, long line, const std::string& what) {
  throw std::runtime_error(path + (line > 0 ? ":" + std::to_string(line) : "") + ": " + what);
}

// Reads the gzip-compressed CSV (65 integers a line: 64 pixels 0..16, the digit 0..9). zlib
// reads an uncompressed file as it is, so a decompressed copy works too. Any problem is an
// error naming the file and line: a silently skipped line would change the experiment.
digits load_digits(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) data_error(path, 0, std::string("cannot open: ") + std::strerror(errno));
  struct closer {
    gzFile f;
    ~closer() { gzclose(f); }
  } close_at_exit{f};

  digits d;
  char buf[4096];
  long line = 0;
  bool blank_seen = false;
  while (gzgets(f, buf, sizeof buf) != nullptr) {
    ++line;
    std::size_t len = std::strlen(buf);
    if (len + 1 == sizeof buf && buf[len - 1] != '\n') data_error(path, line, "line too long");
    if (len > 0 && buf[len - 1] != '\n') {  // the last line, or the end of a damaged file
      int err = Z_OK;
      const char* msg = gzerror(f, &err);
      if (err != Z_OK) data_error(path, line, std::string("read error: ") + msg);
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
    if (len == 0) {  // a trailing empty line is harmless; one in the middle is not
      blank_seen = true;
      continue;
    }
    if (blank_seen) data_error(path, line - 1, "empty line");
    long values[pixels + 1];
    const char* p = buf;
    for (index_t k = 0; k <= pixels; ++k) {
      char* end = nullptr;
      errno = 0;
      values[k] = std::strtol(p, &end, 10);
      if (end == p || errno != 0)
        data_error(path, line, "field " + std::to_string(k + 1) + " is not an integer");
      p = end;
      const char want = k < pixels ? ',' : '\0';
      if (*p != want) {
        data_error(path, line,
                   k < pixels ? "expected 65 comma-separated integers, found " +
                                    std::to_string(k + 1) + " or a stray character"
                              : "more than 65 fields or trailing characters");
      }
      ++p;
    }
    for (index_t k = 0; k < pixels; ++k) {
      if (values[k] < 0 || values[k] > 16)
        data_error(path, line,
                   "pixel " + std::to_string(k + 1) + " is " + std::to_string(values[k]) +
                       ", outside 0..16");
      d.x.push_back(T(values[k]) / T(16));
    }
    if (values[pixels] < 0 || values[pixels] >= classes)
      data_error(path, line, "label " + std::to_string(values[pixels]) + " is outside 0..9");
    d.y.push_back(index_t(values[pixels]));
  }
  int err = Z_OK;
  const char* msg = gzerror(f, &err);  // gzgets returns null on an error as at the end
  if (err != Z_OK) data_error(path, line + 1, std::string("read error: ") + msg);
  if (d.size() == 0) data_error(path, 0, "holds no images");
  std::vector<index_t> count(classes, 0);
  for (index_t label : d.y) ++count[std::size_t(label)];
  for (index_t c = 0; c < classes; ++c)
    if (count[std::size_t(c)] < 2)
      data_error(path, 0, "digit " + std::to_string(c) + " has fewer than 2 images");
  return d;
}

// The images of some digits, relabelled 0..k-1 in digit order (the losses want identities
// 0..C-1).
digits select(const digits& all, int first, int last) {
  digits out;
  for (index_t i = 0; i < all.size(); ++i) {
    const index_t y = all.y[std::size_t(i)];
    if (y < first || y > last) continue;
    out.x.insert(out.x.end(), all.x.begin() + i * pixels, all.x.begin() + (i + 1) * pixels);
    out.y.push_back(y - first);
  }
  return out;
}

// Copies an 8x8 image moved by (dx, dy) pixels, zero where it moved in from outside. Random
// shifts of one pixel are the training's augmentation: with only seven identities the network
// otherwise fits their exact pixel positions within a few epochs, and verification on the
// held-out digits gets worse while the training loss still falls.
void shift_copy(const T* from, T* to, int dx, int dy) {
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) {
      const int sr = r - dy, sc = c - dx;
      to[r * 8 + c] = sr < 0 || sr > 7 || sc < 0 || sc > 7 ? T(0) : from[sr * 8 + sc];
    }
}

// ---- model ----------------------------------------------------------------------------------

// A trained tensor with its gradient and momentum buffer.
struct param {
  std::vector<T> value, grad, velocity;
  bool decay;  // weight decay on matrices, not on biases
  param(std::size_t n, bool decay_) : value(n, 0), grad(n, 0), velocity(n, 0), decay(decay_) {}
};

// x = W2 relu(W1 z + b1) + b2.
struct network {
  param w1{std::size_t(hidden * pixels), true}, b1{std::size_t(hidden), false},
      w2{std::size_t(dim * hidden), true}, b2{std::size_t(dim), false};

  explicit network(std::mt19937_64& rng) {
    // He initialisation for the ReLU layer; the output layer is linear.
    std::normal_distribution<T> n1(0, std::sqrt(T(2) / T(pixels))),
        n2(0, std::sqrt(T(1) / T(hidden)));
    for (T& v : w1.value) v = n1(rng);
    for (T& v : w2.value) v = n2(rng);
  }

  // Forward on a batch z (B x 64): keeps the hidden activations h (B x 128) for backward.
  void forward(const T* z, index_t batch, std::vector<T>& h, std::vector<T>& x) const {
    h.assign(std::size_t(batch * hidden), 0);
    x.assign(std::size_t(batch * dim), 0);
    for (index_t i = 0; i < batch; ++i) {
      for (index_t j = 0; j < hidden; ++j) {
        T acc = b1.value[std::size_t(j)];
        for (index_t k = 0; k < pixels; ++k)
          acc += w1.value[std::size_t(j * pixels + k)] * z[i * pixels + k];
        h[std::size_t(i * hidden + j)] = std::max(acc, T(0));
      }
      for (index_t d = 0; d < dim; ++d) {
        T acc = b2.value[std::size_t(d)];
        for (index_t j = 0; j < hidden; ++j)
          acc += w2.value[std::size_t(d * hidden + j)] * h[std::size_t(i * hidden + j)];
        x[std::size_t(i * dim + d)] = acc;
      }
    }
  }

  // Backward from dL/dx (B x 32): writes the gradients of all four parameters.
  void backward(const T* z, index_t batch, const std::vector<T>& h, const std::vector<T>& gx) {
    for (param* p : {&w1, &b1, &w2, &b2}) std::fill(p->grad.begin(), p->grad.end(), T(0));
    std::vector<T> gh(static_cast<std::size_t>(hidden));
    for (index_t i = 0; i < batch; ++i) {
      const T* g = gx.data() + i * dim;
      const T* hi = h.data() + i * hidden;
      std::fill(gh.begin(), gh.end(), T(0));
      for (index_t d = 0; d < dim; ++d) {  // dL/dW2 = sum_i gx_i h_i^T, dL/dh = W2^T gx
        b2.grad[std::size_t(d)] += g[d];
        for (index_t j = 0; j < hidden; ++j) {
          w2.grad[std::size_t(d * hidden + j)] += g[d] * hi[j];
          gh[std::size_t(j)] += w2.value[std::size_t(d * hidden + j)] * g[d];
        }
      }
      for (index_t j = 0; j < hidden; ++j) {  // through the ReLU: zero where h = 0
        if (hi[j] <= T(0)) continue;
        const T gj = gh[std::size_t(j)];
        b1.grad[std::size_t(j)] += gj;
        for (index_t k = 0; k < pixels; ++k)
          w1.grad[std::size_t(j * pixels + k)] += gj * z[i * pixels + k];
      }
    }
  }

  // L2-normalised embeddings of all images (n x 32): what verification compares.
  std::vector<T> embed(const digits& d) const {
    std::vector<T> h, x;
    forward(d.x.data(), d.size(), h, x);
    for (index_t i = 0; i < d.size(); ++i) {
      T ss = 0;
      for (index_t k = 0; k < dim; ++k)
        ss += x[std::size_t(i * dim + k)] * x[std::size_t(i * dim + k)];
      const T inv = T(1) / std::max(std::sqrt(ss), T(1e-5));  // as the losses normalise
      for (index_t k = 0; k < dim; ++k) x[std::size_t(i * dim + k)] *= inv;
    }
    return x;
  }
};

// SGD with momentum 0.9 and weight decay 5e-4 (the usual face-recognition recipe).
void sgd(param& p, T lr) {
  constexpr T momentum = T(0.9), weight_decay = T(5e-4);
  for (std::size_t k = 0; k < p.value.size(); ++k) {
    const T g = p.grad[k] + (p.decay ? weight_decay * p.value[k] : T(0));
    p.velocity[k] = momentum * p.velocity[k] + g;
    p.value[k] -= lr * p.velocity[k];
  }
}

// ---- verification ---------------------------------------------------------------------------

struct verification {
  double tar_1e2 = 0, tar_1e3 = 0, eer = 0, kfold = 0, kfold_std = 0;
  double acc_at_t = std::nan("");  // NaN: no learned threshold (CosFace alone, warm-up)
};

// All pairs i < j of the held-out images, scored by the cosine of their embeddings.
verification verify(const network& net, const digits& held_out, double threshold) {
  const std::vector<T> e = net.embed(held_out);
  const index_t n = held_out.size();
  std::vector<T> scores;
  std::vector<std::uint8_t> same;
  scores.reserve(std::size_t(n * (n - 1) / 2));
  same.reserve(scores.capacity());
  for (index_t i = 0; i < n; ++i)
    for (index_t j = i + 1; j < n; ++j) {
      T c = 0;
      for (index_t k = 0; k < dim; ++k)
        c += e[std::size_t(i * dim + k)] * e[std::size_t(j * dim + k)];
      scores.push_back(c);
      same.push_back(held_out.y[std::size_t(i)] == held_out.y[std::size_t(j)]);
    }
  const auto s = uf::make_vector_view<const T>(scores.data(), index_t(scores.size()));
  const auto l = uf::make_vector_view<const std::uint8_t>(same.data(), index_t(same.size()));
  const um::sorted_scores<T> sorted(s, l);  // sorted once for TAR@FAR and EER
  verification v;
  const auto tar = um::tar_at_far(sorted, {1e-2, 1e-3});
  v.tar_1e2 = tar[0].tar;
  v.tar_1e3 = tar[1].tar;
  v.eer = um::equal_error_rate(sorted).eer;
  // The pairs come in (i, j) order and the digits are interleaved in the file, so the ten
  // contiguous folds each hold all three identities.
  const um::kfold_result k = um::kfold_accuracy(s, l, {10, um::kfold_mode::exact});
  v.kfold = k.accuracy_mean;
  v.kfold_std = k.accuracy_std;
  if (!std::isnan(threshold)) {
    index_t correct = 0;
    for (std::size_t p = 0; p < scores.size(); ++p)
      correct += (double(scores[p]) >= threshold) == bool(same[p]);
    v.acc_at_t = double(correct) / double(scores.size());
  }
  return v;
}

// ---- training -------------------------------------------------------------------------------

enum class objective { embedded, cosface };

// A short schedule at a small learning rate. Seven identities are few: held-out verification
// is best after a few epochs, and longer training fits the seven digits at the held-out
// ones' expense (docs/examples.md has the numbers).
struct schedule {
  index_t epochs = 8;
  index_t batch = 64;
  T lr = T(0.001);  // cosine decay to zero over the run; the USS bias b follows it too
  std::uint64_t seed = 1;
};

struct epoch_row {
  index_t epoch = 0;
  double loss = std::nan(""), s2c = std::nan(""), s2s = std::nan(""), threshold = std::nan("");
  verification v;
};

void print_header() {
  std::printf("%5s  %8s %8s %8s  %7s  %9s %9s %7s %14s %8s\n", "epoch", "loss", "CosFace", "USS",
              "t=b/s", "TAR@1e-2", "TAR@1e-3", "EER", "10-fold acc", "acc@t");
}

std::string fixed(double v, int width, int precision) {
  char b[32];
  if (std::isnan(v)) {
    std::snprintf(b, sizeof b, "%*s", width, "-");
  } else {
    std::snprintf(b, sizeof b, "%*.*f", width, precision, v);
  }
  return b;
}

void print_row(const epoch_row& r) {
  char kfold[32];
  std::snprintf(kfold, sizeof kfold, "%.4f+-%.4f", r.v.kfold, r.v.kfold_std);
  std::printf("%5lld  %s %s %s  %s  %s %s %s %14s %s\n", static_cast<long long>(r.epoch),
              fixed(r.loss, 8, 4).c_str(), fixed(r.s2c, 8, 4).c_str(), fixed(r.s2s, 8, 4).c_str(),
              fixed(r.threshold, 7, 4).c_str(), fixed(r.v.tar_1e2, 9, 4).c_str(),
              fixed(r.v.tar_1e3, 9, 4).c_str(), fixed(r.v.eer, 7, 4).c_str(), kfold,
              fixed(r.v.acc_at_t, 8, 4).c_str());
  std::fflush(stdout);
}

// A one-line progress bar on stderr, only on a terminal: in a log (CTest, a pipe) the table
// rows on stdout say enough, and carriage returns would clutter it.
struct progress {
  bool on = isatty(STDERR_FILENO) != 0;
  void show(index_t epoch, index_t epochs, index_t done, index_t total) const {
    if (!on) return;
    constexpr int width = 30;
    const int filled = int(width * done / std::max<index_t>(total, 1));
    std::fprintf(stderr, "\r  epoch %lld/%lld [%s%s] %lld/%lld", static_cast<long long>(epoch),
                 static_cast<long long>(epochs), std::string(std::size_t(filled), '#').c_str(),
                 std::string(std::size_t(width - filled), '.').c_str(),
                 static_cast<long long>(done), static_cast<long long>(total));
    std::fflush(stderr);
  }
  void clear() const {
    if (on) std::fprintf(stderr, "\r\033[K");
  }
};

struct run_result {
  epoch_row untrained, last;
  double seconds = 0;
};

run_result train(objective obj, const schedule& sch, const digits& train_set,
                 const digits& held_out) {
  const auto start = std::chrono::steady_clock::now();
  const index_t identities = first_held_out;
  std::mt19937_64 rng(sch.seed);
  network net(rng);
  // The class weights: one row per training identity, on the unit sphere's scale.
  param w(std::size_t(identities * dim), true);
  std::normal_distribution<T> nw(0, T(1) / std::sqrt(T(dim)));
  for (T& v : w.value) v = nw(rng);

  // The library's default embedded loss, the paper's: CosFace (s = 64, m = 0.4) + USS-m
  // (s = 64, m = 0.1, official per-pair form, bias initialised from the data), lambda = 1, one
  // warm-up epoch.
  ufl::embedded_loss<T> loss;
  ufl::cosface_loss<T> cosface(ufl::cosface_options<T>());  // the comparison: the same head
  ufl::feature_memory<T> memory(identities, dim);
  T bias = T(0);  // b: 0, so the first USS step initialises it from the data
  loss.sample_to_sample().bind_bias(uf::make_vector_view(&bias, 1));

  const char* name = obj == objective::embedded ? "CosFace + USS-m" : "CosFace alone";
  std::printf("\n%s: %lld epochs, batch %lld, lr %.3g (cosine), seed %llu\n", name,
              static_cast<long long>(sch.epochs), static_cast<long long>(sch.batch), double(sch.lr),
              static_cast<unsigned long long>(sch.seed));
  print_header();
  run_result out;
  out.untrained.v = verify(net, held_out, std::nan(""));
  print_row(out.untrained);

  const index_t n = train_set.size();
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_t(0));
  std::vector<T> z, h, x, gx;
  std::vector<index_t> y;
  const index_t batches = (n + sch.batch - 1) / sch.batch;
  std::uniform_int_distribution<int> shift(-1, 1);
  const progress bar;
  epoch_row row;
  for (index_t epoch = 0; epoch < sch.epochs; ++epoch) {
    const T lr =
        sch.lr * T(0.5) * (T(1) + std::cos(std::numbers::pi_v<T> * T(epoch) / T(sch.epochs)));
    std::shuffle(order.begin(), order.end(), rng);
    double sum = 0, sum_s2c = 0, sum_s2s = 0;
    for (index_t b = 0; b < batches; ++b) {
      bar.show(epoch + 1, sch.epochs, b, batches);
      const index_t lo = b * sch.batch, B = std::min(sch.batch, n - lo);
      z.resize(std::size_t(B * pixels));
      y.resize(std::size_t(B));
      for (index_t i = 0; i < B; ++i) {
        const index_t src = order[std::size_t(lo + i)];
        shift_copy(train_set.x.data() + src * pixels, z.data() + i * pixels, shift(rng),
                   shift(rng));
        y[std::size_t(i)] = train_set.y[std::size_t(src)];
      }
      net.forward(z.data(), B, h, x);
      gx.assign(x.size(), T(0));
      const auto xv = uf::make_matrix_view<const T>(x.data(), B, dim);
      const auto yv = uf::make_vector_view<const index_t>(y.data(), B);
      const auto wv = uf::make_matrix_view<const T>(w.value.data(), identities, dim);
      const ufl::gradients<T> grads(uf::make_matrix_view(gx.data(), B, dim),
                                    uf::make_matrix_view(w.grad.data(), identities, dim));
      if (obj == objective::embedded) {
        // The epoch index tells the loss whether the warm-up is over: during epoch 0 only
        // CosFace runs while the memory fills up; from epoch 1 on USS-m runs against it.
        const ufl::embedded_result<T> r =
            loss.step(uf::host_policy{}, xv, yv, wv, grads, memory, epoch);
        sum += double(r.loss) * double(B);
        sum_s2c += double(r.s2c_loss) * double(B);
        sum_s2s += double(r.s2s_loss) * double(B);
        // Plain SGD on b at the network's learning rate (grad_bias is empty during the
        // warm-up).
        if (!r.grad_bias.empty()) bias -= lr * r.grad_bias[0];
      } else {
        const ufl::loss_result<T> r = cosface.forward_backward(
            uf::host_policy{}, xv, yv, ufl::references<T>::weights(wv), grads);
        sum += double(r.loss) * double(B);
        sum_s2c += double(r.loss) * double(B);
      }
      net.backward(z.data(), B, h, gx);
      for (param* p : {&net.w1, &net.b1, &net.w2, &net.b2, &w}) sgd(*p, lr);
    }
    bar.clear();
    row.epoch = epoch + 1;
    row.loss = sum / double(n);
    row.s2c = sum_s2c / double(n);
    const bool uss_ran = obj == objective::embedded && loss.uses_sample_to_sample(epoch);
    row.s2s = uss_ran ? sum_s2s / double(n) : std::nan("");
    row.threshold = uss_ran ? double(loss.sample_to_sample().threshold()) : std::nan("");
    row.v = verify(net, held_out, row.threshold);
    print_row(row);
  }
  out.last = row;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

// ---- command line ---------------------------------------------------------------------------

struct arguments {
  schedule sch;
  std::string data = UNITSFACE_DIGITS_DATA;
};

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: digits_training [--epochs N] [--seed S] [--data PATH] [--quick]\n"
               "  --epochs N   training epochs of each run (default 8; the first is the\n"
               "               warm-up, CosFace alone)\n"
               "  --seed S     initial weights and batch order (default 1)\n"
               "  --data PATH  the digits CSV, gzip-compressed or not (default %s)\n"
               "  --quick      a short schedule (4 epochs), for the test\n",
               UNITSFACE_DIGITS_DATA);
}

arguments parse(int argc, char** argv) {
  arguments a;
  auto number = [&](int& i, const char* flag) -> unsigned long long {
    if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
    const char* v = argv[++i];
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || v[0] == '-')
      throw std::invalid_argument(std::string(flag) + ": '" + v +
                                  "' is not a non-negative integer");
    return n;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    if (f == "--epochs") {
      const unsigned long long e = number(i, "--epochs");
      if (e < 1 || e > 100000) throw std::invalid_argument("--epochs must lie in 1..100000");
      a.sch.epochs = index_t(e);
    } else if (f == "--seed") {
      a.sch.seed = number(i, "--seed");
    } else if (f == "--data") {
      if (i + 1 >= argc) throw std::invalid_argument("--data needs a value");
      a.data = argv[++i];
    } else if (f == "--quick") {
      a.sch.epochs = 4;
    } else if (f == "--help" || f == "-h") {
      usage(stdout);
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown argument '" + f + "'");
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  arguments args;
  digits all;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "digits_training: %s\n", e.what());
    usage(stderr);
    return 2;
  }
  try {
    all = load_digits(args.data);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "digits_training: %s\n", e.what());
    return 2;
  }
  const digits train_set = select(all, 0, first_held_out - 1);
  const digits held_out = select(all, first_held_out, int(classes) - 1);
  std::printf(
      "%s: %lld images; training on digits 0-%d (%lld images), verifying on %d-9 "
      "(%lld images, %lld pairs)\n",
      args.data.c_str(), static_cast<long long>(all.size()), first_held_out - 1,
      static_cast<long long>(train_set.size()), first_held_out,
      static_cast<long long>(held_out.size()),
      static_cast<long long>(held_out.size() * (held_out.size() - 1) / 2));

  const run_result uss = train(objective::embedded, args.sch, train_set, held_out);
  const run_result cos = train(objective::cosface, args.sch, train_set, held_out);

  std::printf("\nheld-out verification (digits %d-9), after %lld epochs\n", first_held_out,
              static_cast<long long>(args.sch.epochs));
  std::printf("%-14s %10s %10s %16s\n", "", "untrained", "CosFace", "CosFace + USS-m");
  auto line = [](const char* what, double a, double b, double c) {
    std::printf("%-14s %s %s %s\n", what, fixed(a, 10, 4).c_str(), fixed(b, 10, 4).c_str(),
                fixed(c, 16, 4).c_str());
  };
  line("TAR@FAR=1e-2", uss.untrained.v.tar_1e2, cos.last.v.tar_1e2, uss.last.v.tar_1e2);
  line("TAR@FAR=1e-3", uss.untrained.v.tar_1e3, cos.last.v.tar_1e3, uss.last.v.tar_1e3);
  line("EER", uss.untrained.v.eer, cos.last.v.eer, uss.last.v.eer);
  line("10-fold acc", uss.untrained.v.kfold, cos.last.v.kfold, uss.last.v.kfold);
  line("t = b/s", std::nan(""), std::nan(""), uss.last.threshold);
  line("acc at t", std::nan(""), std::nan(""), uss.last.v.acc_at_t);
  line("seconds", std::nan(""), cos.seconds, uss.seconds);

  const bool improved =
      uss.last.v.eer < uss.untrained.v.eer && uss.last.v.kfold > uss.untrained.v.kfold;
  std::printf("\n%s: EER %.4f -> %.4f, 10-fold accuracy %.4f -> %.4f\n",
              improved ? "held-out verification improved" : "held-out verification DID NOT improve",
              uss.untrained.v.eer, uss.last.v.eer, uss.untrained.v.kfold, uss.last.v.kfold);
  return improved ? 0 : 1;
}
