// unitsface_torch: the unitsface losses as PyTorch operators (torch.ops.unitsface.*) on CPU
// tensors. The Python package (unitsface_torch/) wraps them in torch.autograd.Function and
// torch.nn.Module classes.
//
// The operators are registered with TORCH_LIBRARY and loaded with torch.ops.load_library:
// that needs libtorch only, not pybind11 (which Debian's libtorch-dev does not ship) nor the
// Python headers, and c10::ValueError thrown here reaches Python as ValueError.
//
// Zero copy: every tensor is viewed where it lies, through matrix_view / vector_view with the
// tensor's own strides (any non-negative strides for inputs). The exceptions are the labels
// and the validity flags the losses read, which the library takes with stride 1: a strided
// one is made contiguous (B or C small integers). The outputs (gradients, per-anchor losses)
// are allocated here and written by the library in place.
//
// One translation unit, float and double only, to keep the build short.

// torch/library.h first: it completes c10::IValue, which clang needs (C++20, libstdc++ 12)
// before the ATen headers that keep vectors of it.
#include <torch/library.h>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <c10/util/Exception.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "unitsface/losses/embedded.hpp"
#include "unitsface/losses/feature_memory.hpp"
#include "unitsface/losses/softmax_head.hpp"
#include "unitsface/losses/ss_bce.hpp"
#include "unitsface/losses/ss_softmax.hpp"
#include "unitsface/losses/uss.hpp"

namespace {

namespace uf = unitsface;
namespace ufl = unitsface::losses;
using uf::index_t;
using uf::matrix_view;
using uf::vector_view;

// ---- the execution policy: the host policy with PyTorch's matrix product and threads -------

template <class T>
at::Tensor wrap(matrix_view<T> v) {
  using U = std::remove_const_t<T>;
  // A tensor over the view's memory (not owned), alive for one product.
  return at::from_blob(const_cast<U*>(v.data), {v.rows, v.cols}, {v.row_stride, v.col_stride},
                       at::TensorOptions().dtype(c10::CppTypeToScalarType<U>::value));
}

/// The host policy with two primitives replaced: the three products of each tile go to
/// PyTorch's CPU gemm (BLAS, threaded) instead of the generic loops, and for_each_index runs
/// on PyTorch's intra-op thread pool. The library's loops write every output element from
/// one index (docs/backends.md), so any split of the indices gives the same bits. Reductions
/// stay the generic sequential ones: their order, and so the result, does not depend on the
/// number of threads.
struct torch_cpu_policy : uf::host_policy {
  [[maybe_unused]] static constexpr const char* name = "torch_cpu";  // every policy has one

  template <class T>
  void gemm(T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
            matrix_view<T> c) const {
    at::Tensor out = wrap(c);
    // beta == 0: addmm ignores `out` (NaN in it is not propagated), as the primitive requires.
    at::addmm_out(out, out, wrap(a), wrap(b), beta, alpha);
  }

  template <class F>
  void for_each_index(index_t n, F f) const {
    // Each index is at least a row of work (D or a tile's width of elements).
    at::parallel_for(0, n, 16, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) f(i);
    });
  }
};

// ---- errors ---------------------------------------------------------------------------------

[[noreturn]] void refuse(const char* argument, const std::string& what) {
  throw uf::invalid_argument(argument, what);
}

/// Runs f, turning unitsface::invalid_argument (which names the argument at fault) into
/// c10::ValueError, which PyTorch raises in Python as ValueError with the same message.
template <class F>
auto translated(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const uf::invalid_argument& e) {
    throw c10::ValueError({__func__, __FILE__, static_cast<std::uint32_t>(__LINE__)}, e.what());
  }
}

// ---- tensor checks and views -----------------------------------------------------------------

/// PyTorch's Python name of a dtype (float32, int64, ...).
std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    case at::kHalf:
      return "float16";
    case at::kBFloat16:
      return "bfloat16";
    case at::kLong:
      return "int64";
    case at::kInt:
      return "int32";
    case at::kShort:
      return "int16";
    case at::kChar:
      return "int8";
    case at::kByte:
      return "uint8";
    case at::kBool:
      return "bool";
    default:
      return c10::toString(t);
  }
}

void check_device(const at::Tensor& t, const char* name) {
  if (t.is_cuda()) {
    refuse(name,
           "is a CUDA tensor: CUDA tensors need the extension built with nvcc (this build runs "
           "on CPU tensors only)");
  }
  if (!t.device().is_cpu()) refuse(name, "is on device " + t.device().str() + ", not the CPU");
  if (t.layout() != at::kStrided) refuse(name, "is not a dense (strided) tensor");
}

void check_dims(const at::Tensor& t, const char* name, std::int64_t dims, const char* what) {
  if (t.dim() != dims) {
    refuse(name, "has " + std::to_string(t.dim()) + " dimension(s), expected " +
                     std::to_string(dims) + " (" + what + ")");
  }
}

/// A read-only view of a 2-D tensor of element type T, in its own strides.
template <class T>
matrix_view<const T> matrix_in(const at::Tensor& t, const char* name) {
  check_device(t, name);
  check_dims(t, name, 2, "rows x features");
  if (t.scalar_type() != c10::CppTypeToScalarType<T>::value) {
    refuse(name, "dtype " + dtype_name(t.scalar_type()) + ", the input's is " +
                     dtype_name(c10::CppTypeToScalarType<T>::value));
  }
  return matrix_view<const T>(t.data_ptr<T>(), t.size(0), t.size(1), t.stride(0), t.stride(1));
}

/// A writable view: no stride 0 where an extent exceeds 1 (two elements would share memory).
template <class T>
matrix_view<T> matrix_out(const at::Tensor& t, const char* name) {
  const matrix_view<const T> v = matrix_in<T>(t, name);
  if ((v.rows > 1 && v.row_stride == 0) || (v.cols > 1 && v.col_stride == 0)) {
    refuse(name, "has a stride of 0 (an expanded tensor): its rows cannot be written");
  }
  return matrix_view<T>(const_cast<T*>(v.data), v.rows, v.cols, v.row_stride, v.col_stride);
}

/// The labels, int64, one per anchor; made contiguous (the library reads them with stride 1).
at::Tensor labels_in(const at::Tensor& labels, index_t batch) {
  check_device(labels, "labels");
  check_dims(labels, "labels", 1, "one class index per anchor");
  if (labels.scalar_type() != at::kLong) {
    refuse("labels", "dtype " + dtype_name(labels.scalar_type()) + ", expected int64");
  }
  if (labels.size(0) != batch) {
    refuse("labels", "has " + std::to_string(labels.size(0)) + " elements for " +
                         std::to_string(batch) + " anchors");
  }
  return labels.contiguous();
}

/// Validity flags (uint8 or bool, 0 = never written), one per memory row; contiguous.
at::Tensor valid_in(const at::Tensor& valid, index_t rows, bool writable) {
  check_device(valid, "valid");
  check_dims(valid, "valid", 1, "one flag per memory row");
  if (valid.scalar_type() != at::kByte && valid.scalar_type() != at::kBool) {
    refuse("valid", "dtype " + dtype_name(valid.scalar_type()) + ", expected uint8 or bool");
  }
  if (valid.size(0) != rows) {
    refuse("valid", "has " + std::to_string(valid.size(0)) + " flags for " + std::to_string(rows) +
                        " memory rows");
  }
  if (writable && !valid.is_contiguous()) {
    refuse("valid", "must be contiguous: the memory update writes it in place");
  }
  return valid.contiguous();
}

const unsigned char* flags(const at::Tensor& valid) {
  return static_cast<const unsigned char*>(valid.data_ptr());
}

/// The bias values (float32 or float64, any shape holding `count` of them), in T. A copy of
/// one or C numbers: the loss keeps its bias itself (set_biases).
template <class T>
std::vector<T> bias_in(const at::Tensor& bias, index_t count) {
  check_device(bias, "bias");
  if (bias.scalar_type() != at::kFloat && bias.scalar_type() != at::kDouble) {
    refuse("bias", "dtype " + dtype_name(bias.scalar_type()) + ", expected float32 or float64");
  }
  if (bias.numel() != count) {
    refuse("bias", "has shape " + c10::str(bias.sizes()) + ", expected " + std::to_string(count) +
                       " value(s)");
  }
  const at::Tensor flat = bias.reshape({-1}).contiguous();
  std::vector<T> out(static_cast<std::size_t>(count));
  for (index_t i = 0; i < count; ++i) {
    out[static_cast<std::size_t>(i)] = bias.scalar_type() == at::kFloat
                                           ? static_cast<T>(flat.data_ptr<float>()[i])
                                           : static_cast<T>(flat.data_ptr<double>()[i]);
  }
  return out;
}

/// The optional upstream gradient (d outer / d loss: 1 value, or B for reduction none), in T.
template <class T>
at::Tensor upstream_in(const c10::optional<at::Tensor>& up) {
  if (!up.has_value()) return {};
  check_device(*up, "upstream");
  if (up->scalar_type() != c10::CppTypeToScalarType<T>::value) {
    refuse("upstream", "dtype " + dtype_name(up->scalar_type()) + ", the input's is " +
                           dtype_name(c10::CppTypeToScalarType<T>::value));
  }
  return up->reshape({-1}).contiguous();
}

template <class T>
vector_view<const T> vec(const at::Tensor& t) {
  if (!t.defined()) return {};
  return vector_view<const T>(t.data_ptr<T>(), t.numel());
}

at::Tensor new_tensor(at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::empty(sizes, at::TensorOptions().dtype(dtype));
}

template <class T>
at::Tensor from_values(const std::vector<T>& v) {
  at::Tensor t =
      new_tensor({static_cast<std::int64_t>(v.size())}, c10::CppTypeToScalarType<T>::value);
  for (std::size_t i = 0; i < v.size(); ++i) t.data_ptr<T>()[i] = v[i];
  return t;
}

template <class T>
at::Tensor scalar(T v) {
  at::Tensor t = new_tensor({}, c10::CppTypeToScalarType<T>::value);
  *t.data_ptr<T>() = v;
  return t;
}

// ---- option names ---------------------------------------------------------------------------

uf::reduction parse_reduction(c10::string_view s) {
  if (s == "mean") return uf::reduction::mean;
  if (s == "sum") return uf::reduction::sum;
  if (s == "none") return uf::reduction::none;
  refuse("reduction", "'" + std::string(s) + "' is not one of mean, sum, none");
}

ufl::uss_form parse_form(c10::string_view s) {
  if (s == "per_pair") return ufl::uss_form::per_pair;
  if (s == "log_of_sums") return ufl::uss_form::log_of_sums;
  refuse("form", "'" + std::string(s) + "' is not one of per_pair, log_of_sums");
}

// data_dependent_once keeps state across calls; the Python module keeps that state (a
// buffer) and asks for data_dependent or fixed on each call.
ufl::bias_init parse_init(c10::string_view s) {
  if (s == "fixed") return ufl::bias_init::fixed;
  if (s == "data_dependent") return ufl::bias_init::data_dependent;
  refuse("bias_init", "'" + std::string(s) + "' is not one of fixed, data_dependent");
}

ufl::bias_storage parse_storage(c10::string_view s) {
  if (s == "caller_precision") return ufl::bias_storage::caller_precision;
  if (s == "float32") return ufl::bias_storage::float32;
  refuse("bias_storage", "'" + std::string(s) + "' is not one of caller_precision, float32");
}

ufl::arcface_policy parse_policy(c10::string_view s) {
  if (s == "none") return ufl::arcface_policy::none;
  if (s == "easy_margin") return ufl::arcface_policy::easy_margin;
  if (s == "classic_fallback") return ufl::arcface_policy::classic_fallback;
  refuse("policy", "'" + std::string(s) + "' is not one of none, easy_margin, classic_fallback");
}

ufl::arcface_gradient parse_gradient(c10::string_view s) {
  if (s == "exact") return ufl::arcface_gradient::exact;
  if (s == "straight_through") return ufl::arcface_gradient::straight_through;
  refuse("gradient", "'" + std::string(s) + "' is not one of exact, straight_through");
}

void fill_evaluation(ufl::evaluation_options& o, c10::string_view reduction,
                     std::int64_t tile_columns, bool validate) {
  o.reduce = parse_reduction(reduction);
  o.tile_columns = tile_columns;
  o.validate = validate;
}

/// The references of a sample-to-sample loss: the memory rows (with their flags) or, with no
/// memory, the batch itself.
template <class T>
ufl::references<T> sample_refs(const c10::optional<at::Tensor>& memory,
                               const c10::optional<at::Tensor>& valid, index_t dim,
                               at::Tensor& valid_keep) {
  if (!memory.has_value()) {
    if (valid.has_value()) refuse("valid", "given without a memory (in-batch pairs)");
    return ufl::references<T>::in_batch();
  }
  const matrix_view<const T> m = matrix_in<T>(*memory, "memory");
  if (m.cols != dim) {
    refuse("memory",
           "has " + std::to_string(m.cols) + " features, the input " + std::to_string(dim));
  }
  if (!valid.has_value()) return ufl::references<T>::memory(m);
  valid_keep = valid_in(*valid, m.rows, false);
  return ufl::references<T>::memory(m, flags(valid_keep));
}

/// The call a loss makes: forward (no gradients), forward_backward, or backward (upstream
/// given). Returns the result and, for reduction none, the per-anchor losses.
template <class T, class Loss>
ufl::loss_result<T> run(Loss& loss, const torch_cpu_policy& pol, matrix_view<const T> x,
                        vector_view<const index_t> labels, const ufl::references<T>& refs,
                        const ufl::gradients<T>* grads, const at::Tensor& upstream,
                        const at::Tensor& per_anchor) {
  vector_view<T> pa;
  if (per_anchor.defined()) pa = vector_view<T>(per_anchor.data_ptr<T>(), per_anchor.numel());
  if (upstream.defined()) return loss.backward(pol, x, labels, refs, *grads, vec<T>(upstream));
  if (grads != nullptr) return loss.forward_backward(pol, x, labels, refs, *grads, {}, pa);
  ufl::loss_result<T> r;
  r.loss = loss.forward(pol, x, labels, refs, pa);
  return r;
}

// ---- the operators --------------------------------------------------------------------------

using binary_out = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

/// USS (scalar bias) or SS-BCE (per_identity: one bias per memory row).
/// Returns (loss, per_anchor, grad_input, grad_bias, bias_used); per_anchor is empty unless
/// the reduction is none, grad_input and grad_bias unless gradients were asked for.
template <class T>
binary_out binary_loss_t(const at::Tensor& input, const at::Tensor& labels,
                         const c10::optional<at::Tensor>& memory,
                         const c10::optional<at::Tensor>& valid, const at::Tensor& bias,
                         bool per_identity, double s, double m, c10::string_view form, bool clamp,
                         c10::string_view init, c10::string_view storage,
                         c10::string_view reduction, std::int64_t tile_columns, bool validate,
                         bool grad, const c10::optional<at::Tensor>& upstream) {
  const auto dt = c10::CppTypeToScalarType<T>::value;
  const matrix_view<const T> x = matrix_in<T>(input, "input");
  const at::Tensor y = labels_in(labels, x.rows);
  at::Tensor valid_keep;
  const ufl::references<T> refs = sample_refs<T>(memory, valid, x.cols, valid_keep);

  ufl::binary_options<T> o;
  fill_evaluation(o, reduction, tile_columns, validate);
  o.s = static_cast<T>(s);
  o.m = static_cast<T>(m);
  o.form = parse_form(form);
  o.clamp = clamp;
  o.init = parse_init(init);
  o.storage = parse_storage(storage);
  c10::optional<ufl::ss_bce_loss<T>> bce;
  c10::optional<ufl::uss_loss<T>> uss;
  ufl::binary_loss<T>* loss = nullptr;
  if (per_identity) {
    if (!memory.has_value()) {
      refuse("memory", "SS-BCE keeps one bias per memory row: it needs the memory");
    }
    bce.emplace(refs.rows.rows, o);
    loss = &*bce;
  } else {
    uss.emplace(o);
    loss = &*uss;
  }
  loss->set_biases(bias_in<T>(bias, static_cast<index_t>(loss->biases().size())));

  const at::Tensor up = upstream_in<T>(upstream);
  const bool with_grads = grad || up.defined();
  at::Tensor gx = with_grads ? new_tensor({x.rows, x.cols}, dt) : new_tensor({0}, dt);
  const ufl::gradients<T> grads(uf::make_matrix_view(gx.data_ptr<T>(), x.rows, x.cols));
  at::Tensor pa =
      o.reduce == uf::reduction::none && !up.defined() ? new_tensor({x.rows}, dt) : at::Tensor();
  const ufl::loss_result<T> r =
      run(*loss, torch_cpu_policy{}, x, uf::make_vector_view(y.data_ptr<index_t>(), x.rows), refs,
          with_grads ? &grads : nullptr, up, pa);
  // The bias used: forward() returns the loss alone, and the loss keeps the bias it
  // initialised (biases()), which is the one every call used.
  return {scalar<T>(r.loss), pa.defined() ? pa : new_tensor({0}, dt), gx, from_values(r.grad_bias),
          from_values(loss->biases())};
}

binary_out binary_loss_op(const at::Tensor& input, const at::Tensor& labels,
                          const c10::optional<at::Tensor>& memory,
                          const c10::optional<at::Tensor>& valid, const at::Tensor& bias,
                          bool per_identity, double s, double m, c10::string_view form, bool clamp,
                          c10::string_view init, c10::string_view storage,
                          c10::string_view reduction, std::int64_t tile_columns, bool validate,
                          bool grad, const c10::optional<at::Tensor>& upstream) {
  return translated([&] {
    check_device(input, "input");
    if (input.scalar_type() == at::kDouble) {
      return binary_loss_t<double>(input, labels, memory, valid, bias, per_identity, s, m, form,
                                   clamp, init, storage, reduction, tile_columns, validate, grad,
                                   upstream);
    }
    if (input.scalar_type() == at::kFloat) {
      return binary_loss_t<float>(input, labels, memory, valid, bias, per_identity, s, m, form,
                                  clamp, init, storage, reduction, tile_columns, validate, grad,
                                  upstream);
    }
    refuse("input", "dtype " + dtype_name(input.scalar_type()) + ", expected float32 or float64");
  });
}

using ss_softmax_out = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

/// SS-softmax over the memory or the batch. Returns (loss, per_anchor, grad_input).
template <class T>
ss_softmax_out ss_softmax_t(const at::Tensor& input, const at::Tensor& labels,
                            const c10::optional<at::Tensor>& memory,
                            const c10::optional<at::Tensor>& valid, double s, double m,
                            c10::string_view reduction, std::int64_t tile_columns, bool validate,
                            bool grad, const c10::optional<at::Tensor>& upstream) {
  const auto dt = c10::CppTypeToScalarType<T>::value;
  const matrix_view<const T> x = matrix_in<T>(input, "input");
  const at::Tensor y = labels_in(labels, x.rows);
  at::Tensor valid_keep;
  const ufl::references<T> refs = sample_refs<T>(memory, valid, x.cols, valid_keep);
  ufl::ss_softmax_options<T> o;
  fill_evaluation(o, reduction, tile_columns, validate);
  o.s = static_cast<T>(s);
  o.m = static_cast<T>(m);
  ufl::ss_softmax_loss<T> loss(o);

  const at::Tensor up = upstream_in<T>(upstream);
  const bool with_grads = grad || up.defined();
  at::Tensor gx = with_grads ? new_tensor({x.rows, x.cols}, dt) : new_tensor({0}, dt);
  const ufl::gradients<T> grads(uf::make_matrix_view(gx.data_ptr<T>(), x.rows, x.cols));
  at::Tensor pa =
      o.reduce == uf::reduction::none && !up.defined() ? new_tensor({x.rows}, dt) : at::Tensor();
  const ufl::loss_result<T> r =
      run(loss, torch_cpu_policy{}, x, uf::make_vector_view(y.data_ptr<index_t>(), x.rows), refs,
          with_grads ? &grads : nullptr, up, pa);
  return {scalar<T>(r.loss), pa.defined() ? pa : new_tensor({0}, dt), gx};
}

ss_softmax_out ss_softmax_op(const at::Tensor& input, const at::Tensor& labels,
                             const c10::optional<at::Tensor>& memory,
                             const c10::optional<at::Tensor>& valid, double s, double m,
                             c10::string_view reduction, std::int64_t tile_columns, bool validate,
                             bool grad, const c10::optional<at::Tensor>& upstream) {
  return translated([&] {
    check_device(input, "input");
    if (input.scalar_type() == at::kDouble) {
      return ss_softmax_t<double>(input, labels, memory, valid, s, m, reduction, tile_columns,
                                  validate, grad, upstream);
    }
    if (input.scalar_type() == at::kFloat) {
      return ss_softmax_t<float>(input, labels, memory, valid, s, m, reduction, tile_columns,
                                 validate, grad, upstream);
    }
    refuse("input", "dtype " + dtype_name(input.scalar_type()) + ", expected float32 or float64");
  });
}

using head_out = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

template <class T, class Margin>
head_out head_run(ufl::softmax_head<T, Margin>& loss, const at::Tensor& input,
                  const at::Tensor& labels, const at::Tensor& weight, bool grad, bool grad_weight,
                  const c10::optional<at::Tensor>& upstream) {
  const auto dt = c10::CppTypeToScalarType<T>::value;
  const matrix_view<const T> x = matrix_in<T>(input, "input");
  const at::Tensor y = labels_in(labels, x.rows);
  const matrix_view<const T> w = matrix_in<T>(weight, "weight");
  const at::Tensor up = upstream_in<T>(upstream);
  const bool with_grads = grad || up.defined();
  at::Tensor gx = with_grads ? new_tensor({x.rows, x.cols}, dt) : new_tensor({0}, dt);
  at::Tensor gw =
      with_grads && grad_weight ? new_tensor({w.rows, w.cols}, dt) : new_tensor({0}, dt);
  const ufl::gradients<T> grads(
      uf::make_matrix_view(gx.data_ptr<T>(), x.rows, x.cols),
      gw.numel() > 0 ? uf::make_matrix_view(gw.data_ptr<T>(), w.rows, w.cols) : matrix_view<T>{});
  at::Tensor pa = loss.opts().reduce == uf::reduction::none && !up.defined()
                      ? new_tensor({x.rows}, dt)
                      : at::Tensor();
  const ufl::loss_result<T> r =
      run(loss, torch_cpu_policy{}, x, uf::make_vector_view(y.data_ptr<index_t>(), x.rows),
          ufl::references<T>::weights(w), with_grads ? &grads : nullptr, up, pa);
  return {scalar<T>(r.loss), pa.defined() ? pa : new_tensor({0}, dt), gx, gw};
}

/// CosFace or ArcFace over the class weights. Returns (loss, per_anchor, grad_input,
/// grad_weight); grad_weight is empty unless asked for.
template <class T>
head_out softmax_head_t(const at::Tensor& input, const at::Tensor& labels, const at::Tensor& weight,
                        c10::string_view margin, double s, double m, c10::string_view policy,
                        c10::string_view gradient, c10::string_view reduction,
                        std::int64_t tile_columns, bool validate, bool grad, bool grad_weight,
                        const c10::optional<at::Tensor>& upstream) {
  if (margin == "cosface") {
    auto o = ufl::cosface_options<T>(static_cast<T>(m), static_cast<T>(s));
    fill_evaluation(o, reduction, tile_columns, validate);
    ufl::cosface_loss<T> loss(o);
    return head_run(loss, input, labels, weight, grad, grad_weight, upstream);
  }
  if (margin == "arcface") {
    auto o = ufl::arcface_options<T>(static_cast<T>(m), parse_policy(policy),
                                     parse_gradient(gradient), static_cast<T>(s));
    fill_evaluation(o, reduction, tile_columns, validate);
    ufl::arcface_loss<T> loss(o);
    return head_run(loss, input, labels, weight, grad, grad_weight, upstream);
  }
  refuse("margin", "'" + std::string(margin) + "' is not one of cosface, arcface");
}

head_out softmax_head_op(const at::Tensor& input, const at::Tensor& labels,
                         const at::Tensor& weight, c10::string_view margin, double s, double m,
                         c10::string_view policy, c10::string_view gradient,
                         c10::string_view reduction, std::int64_t tile_columns, bool validate,
                         bool grad, bool grad_weight, const c10::optional<at::Tensor>& upstream) {
  return translated([&] {
    check_device(input, "input");
    if (input.scalar_type() == at::kDouble) {
      return softmax_head_t<double>(input, labels, weight, margin, s, m, policy, gradient,
                                    reduction, tile_columns, validate, grad, grad_weight, upstream);
    }
    if (input.scalar_type() == at::kFloat) {
      return softmax_head_t<float>(input, labels, weight, margin, s, m, policy, gradient, reduction,
                                   tile_columns, validate, grad, grad_weight, upstream);
    }
    refuse("input", "dtype " + dtype_name(input.scalar_type()) + ", expected float32 or float64");
  });
}

using embedded_out =
    std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

/// The embedded loss L = CosFace(x, W) + lambda USS-m(x, memory), the second part from epoch
/// `warmup_epochs` on, with the memory as it is (the caller writes the batch afterwards,
/// memory_update). Returns (loss, s2c_loss, s2s_loss, grad_input, grad_weight, grad_bias,
/// bias_used); s2s_loss is lambda L_s2s, 0 in the warm-up, where grad_bias and bias_used are
/// empty.
///
/// embedded_loss::step is not used: it takes the library's feature_memory, which owns its
/// rows, while here the rows are the caller's tensor. This is its sequence on the parts: the
/// memory's labels checked first (the memory is written at them even in the warm-up), the
/// head, then the sample-to-sample part with its bias initialisation, gradients summed.
template <class T>
embedded_out embedded_t(const at::Tensor& input, const at::Tensor& labels, const at::Tensor& weight,
                        const at::Tensor& memory, const c10::optional<at::Tensor>& valid,
                        const at::Tensor& bias, double s2c_s, double s2c_m, double s2s_s,
                        double s2s_m, bool clamp, c10::string_view init, c10::string_view storage,
                        double lam, std::int64_t warmup_epochs, std::int64_t epoch, bool validate,
                        bool grad, bool grad_weight) {
  const auto dt = c10::CppTypeToScalarType<T>::value;
  uf::detail::require(epoch >= 0, "epoch", "must be >= 0");
  uf::detail::require(warmup_epochs >= 0, "warmup_epochs", "must be >= 0");
  uf::detail::require_finite_scalar("lambda", lam);
  uf::detail::require(lam >= 0, "lambda", "must be >= 0");
  const matrix_view<const T> x = matrix_in<T>(input, "input");
  const at::Tensor y = labels_in(labels, x.rows);
  const matrix_view<const T> w = matrix_in<T>(weight, "weight");
  const matrix_view<const T> mem = matrix_in<T>(memory, "memory");
  uf::detail::require(
      mem.cols == x.cols, "memory",
      "has dimension " + std::to_string(mem.cols) + ", the input " + std::to_string(x.cols));
  const index_t* yl = y.data_ptr<index_t>();
  index_t outside = 0;
  for (index_t i = 0; i < x.rows; ++i) outside += (yl[i] < 0 || yl[i] >= mem.rows) ? 1 : 0;
  uf::detail::require(outside == 0, "labels",
                      std::to_string(outside) + " label(s) outside [0, " +
                          std::to_string(mem.rows) + "), the memory's identities");
  at::Tensor valid_keep;
  if (valid.has_value()) valid_keep = valid_in(*valid, mem.rows, false);

  auto ho = ufl::cosface_options<T>(static_cast<T>(s2c_m), static_cast<T>(s2c_s));
  ho.validate = validate;
  ufl::cosface_loss<T> head(ho);
  ufl::binary_options<T> so;
  so.validate = validate;
  so.s = static_cast<T>(s2s_s);
  so.m = static_cast<T>(s2s_m);
  so.clamp = clamp;
  so.init = parse_init(init);
  so.storage = parse_storage(storage);
  ufl::uss_loss<T> uss(so);
  uss.set_biases(bias_in<T>(bias, 1));

  const torch_cpu_policy pol;
  const auto yv = uf::make_vector_view(yl, x.rows);
  at::Tensor gx = grad ? new_tensor({x.rows, x.cols}, dt) : new_tensor({0}, dt);
  at::Tensor gw = grad && grad_weight ? new_tensor({w.rows, w.cols}, dt) : new_tensor({0}, dt);
  const ufl::gradients<T> head_grads(
      uf::make_matrix_view(gx.data_ptr<T>(), x.rows, x.cols),
      gw.numel() > 0 ? uf::make_matrix_view(gw.data_ptr<T>(), w.rows, w.cols) : matrix_view<T>{});
  const T s2c =
      run(head, pol, x, yv, ufl::references<T>::weights(w), grad ? &head_grads : nullptr, {}, {})
          .loss;
  T s2s = T(0);
  std::vector<T> grad_bias, bias_used;
  if (epoch >= warmup_epochs) {
    const auto refs = valid_keep.defined() ? ufl::references<T>::memory(mem, flags(valid_keep))
                                           : ufl::references<T>::memory(mem);
    at::Tensor part = grad ? new_tensor({x.rows, x.cols}, dt) : new_tensor({0}, dt);
    const ufl::gradients<T> part_grads(uf::make_matrix_view(part.data_ptr<T>(), x.rows, x.cols));
    const ufl::loss_result<T> r = run(uss, pol, x, yv, refs, grad ? &part_grads : nullptr, {}, {});
    s2s = static_cast<T>(lam) * r.loss;
    bias_used = uss.biases();
    if (grad) {
      // d L / d x = d L_s2c / d x + lambda d L_s2s / d x, as embedded_loss adds them.
      uf::backends::for_each_index(
          pol, x.rows,
          ufl::detail::add_scaled<T>{
              uf::make_matrix_view(gx.data_ptr<T>(), x.rows, x.cols),
              uf::make_matrix_view<const T>(part.data_ptr<T>(), x.rows, x.cols),
              static_cast<T>(lam)});
      for (T v : r.grad_bias) grad_bias.push_back(static_cast<T>(lam) * v);
    }
  }
  return std::make_tuple(scalar<T>(s2c + s2s), scalar<T>(s2c), scalar<T>(s2s), gx, gw,
                         from_values(grad_bias), from_values(bias_used));
}

embedded_out embedded_op(const at::Tensor& input, const at::Tensor& labels,
                         const at::Tensor& weight, const at::Tensor& memory,
                         const c10::optional<at::Tensor>& valid, const at::Tensor& bias,
                         double s2c_s, double s2c_m, double s2s_s, double s2s_m, bool clamp,
                         c10::string_view init, c10::string_view storage, double lam,
                         std::int64_t warmup_epochs, std::int64_t epoch, bool validate, bool grad,
                         bool grad_weight) {
  return translated([&] {
    check_device(input, "input");
    if (input.scalar_type() == at::kDouble) {
      return embedded_t<double>(input, labels, weight, memory, valid, bias, s2c_s, s2c_m, s2s_s,
                                s2s_m, clamp, init, storage, lam, warmup_epochs, epoch, validate,
                                grad, grad_weight);
    }
    if (input.scalar_type() == at::kFloat) {
      return embedded_t<float>(input, labels, weight, memory, valid, bias, s2c_s, s2c_m, s2s_s,
                               s2s_m, clamp, init, storage, lam, warmup_epochs, epoch, validate,
                               grad, grad_weight);
    }
    refuse("input", "dtype " + dtype_name(input.scalar_type()) + ", expected float32 or float64");
  });
}

/// The feature memory update, in place on the caller's tensors: row y_i <- x_i in batch order
/// (the last occurrence wins; with momentum mu a written row moves to mu row + (1 - mu) x),
/// valid[y_i] <- 1. The library's feature_memory owns its storage, so its update is applied
/// here to views of the tensors, with the same checks (labels, NaN/Inf when `validate`).
template <class T>
void memory_update_t(const at::Tensor& memory, const at::Tensor& valid, const at::Tensor& input,
                     const at::Tensor& labels, double momentum, bool validate) {
  const matrix_view<T> rows = matrix_out<T>(memory, "memory");
  const matrix_view<const T> x = matrix_in<T>(input, "input");
  uf::detail::require(x.rows > 0, "input", "the batch is empty (B = 0)");
  uf::detail::require_shape("input", x.rows, x.cols, x.rows, rows.cols);
  const at::Tensor y = labels_in(labels, x.rows);
  const at::Tensor v = valid_in(valid, rows.rows, true);
  uf::detail::require_finite_scalar("momentum", momentum);
  uf::detail::require(momentum >= 0 && momentum < 1, "momentum",
                      "must lie in [0, 1), got " + std::to_string(momentum));
  const index_t* yl = y.data_ptr<index_t>();
  const torch_cpu_policy pol;
  if (validate) {
    const ufl::detail::check_counts c = uf::backends::reduce_index<ufl::detail::check_counts>(
        pol, x.rows, ufl::detail::count_problems<T>{x, yl, rows.rows, {}, nullptr});
    ufl::detail::require_no_problems(c, rows.rows, nullptr);
  } else {
    // Unchecked labels would write outside the memory: the range check always runs.
    for (index_t i = 0; i < x.rows; ++i) {
      uf::detail::require(
          yl[i] >= 0 && yl[i] < rows.rows, "labels",
          "label " + std::to_string(yl[i]) + " outside [0, " + std::to_string(rows.rows) + ")");
    }
  }
  uf::backends::for_each_index(
      pol, x.rows,
      ufl::detail::memory_write<T>{x, yl, x.rows, rows, static_cast<unsigned char*>(v.data_ptr()),
                                   static_cast<T>(momentum)});
  // The tensors were written through their pointers: bump their version counters so that
  // autograd refuses a backward that saved them before this update.
  memory.unsafeGetTensorImpl()->bump_version();
  valid.unsafeGetTensorImpl()->bump_version();
}

void memory_update_op(const at::Tensor& memory, const at::Tensor& valid, const at::Tensor& input,
                      const at::Tensor& labels, double momentum, bool validate) {
  translated([&] {
    check_device(input, "input");
    check_device(memory, "memory");
    if (input.scalar_type() != memory.scalar_type()) {
      refuse("input", "dtype " + dtype_name(input.scalar_type()) + ", the memory's is " +
                          dtype_name(memory.scalar_type()));
    }
    if (input.scalar_type() == at::kDouble) {
      memory_update_t<double>(memory, valid, input, labels, momentum, validate);
    } else if (input.scalar_type() == at::kFloat) {
      memory_update_t<float>(memory, valid, input, labels, momentum, validate);
    } else {
      refuse("input", "dtype " + dtype_name(input.scalar_type()) + ", expected float32 or float64");
    }
  });
}

}  // namespace

TORCH_LIBRARY(unitsface, lib) {
  lib.def(
      "binary_loss(Tensor input, Tensor labels, Tensor? memory, Tensor? valid, Tensor bias, "
      "bool per_identity, float s, float m, str form, bool clamp, str init, str storage, "
      "str reduction, int tile_columns, bool validate, bool grad, Tensor? upstream) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
      &binary_loss_op);
  lib.def(
      "ss_softmax(Tensor input, Tensor labels, Tensor? memory, Tensor? valid, float s, float m, "
      "str reduction, int tile_columns, bool validate, bool grad, Tensor? upstream) "
      "-> (Tensor, Tensor, Tensor)",
      &ss_softmax_op);
  lib.def(
      "softmax_head(Tensor input, Tensor labels, Tensor weight, str margin, float s, float m, "
      "str policy, str gradient, str reduction, int tile_columns, bool validate, bool grad, "
      "bool grad_weight, Tensor? upstream) -> (Tensor, Tensor, Tensor, Tensor)",
      &softmax_head_op);
  lib.def(
      "embedded(Tensor input, Tensor labels, Tensor weight, Tensor memory, Tensor? valid, "
      "Tensor bias, float s2c_s, float s2c_m, float s2s_s, float s2s_m, bool clamp, str init, "
      "str storage, float lam, int warmup_epochs, int epoch, bool validate, bool grad, "
      "bool grad_weight) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)",
      &embedded_op);
  lib.def(
      "memory_update(Tensor(a!) memory, Tensor(b!) valid, Tensor input, Tensor labels, "
      "float momentum, bool validate) -> ()",
      &memory_update_op);
}
