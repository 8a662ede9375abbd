// raw_training_loop: 60 training steps of a linear embedding with the UniTSFace embedded loss
// (CosFace + USS over the feature memory), on plain arrays: no tensor library, host policy,
// every buffer a std::vector viewed with make_matrix_view / make_vector_view.
//
// The data: 16 identities, each a random prototype in R^32; a sample is its identity's
// prototype plus noise. The model: x = E z, E a 12 x 32 matrix; its backward is written by
// hand (dL/dE = sum_i dL/dx_i z_i^T). The class weights W (16 x 12) and the USS bias b are
// trained too: the losses hold no optimiser, so each step applies SGD to E and W from the
// gradients the step wrote, and to b from the result's grad_bias. b is the caller's variable,
// bound to the USS loss with bind_bias as W is passed by view: the loss reads it on every step
// and writes its data-dependent initialisation into it.
//
// Prints the loss and its two parts, the threshold t = b / s, and the verification accuracy
// at t on fresh pairs every 10 steps; exits 1 if training did not lower the loss.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "unitsface/losses.hpp"

namespace uf = unitsface;
namespace ufl = unitsface::losses;
using T = float;
using uf::index_t;

int main() {
  const index_t identities = 16, in_dim = 32, dim = 12, batch = 32, steps = 60;
  std::mt19937_64 rng(7);
  std::normal_distribution<T> normal(0, 1);
  std::uniform_int_distribution<index_t> pick(0, identities - 1);

  std::vector<T> prototypes(std::size_t(identities * in_dim));
  for (T& v : prototypes) v = normal(rng);
  // A batch of samples z (batch x in_dim) with their labels.
  auto sample = [&](std::vector<T>& z, std::vector<index_t>& y) {
    for (index_t i = 0; i < batch; ++i) {
      y[std::size_t(i)] = pick(rng);
      for (index_t k = 0; k < in_dim; ++k)
        z[std::size_t(i * in_dim + k)] =
            prototypes[std::size_t(y[std::size_t(i)] * in_dim + k)] + T(0.8) * normal(rng);
    }
  };

  // Parameters: the embedding E and the class weights W, small random values.
  std::vector<T> E(std::size_t(dim * in_dim)), W(std::size_t(identities * dim));
  for (T& v : E) v = T(0.2) * normal(rng);
  for (T& v : W) v = T(0.2) * normal(rng);

  // CosFace (s = 16, m = 0.2) + USS (s = 16, m = 0.1), lambda = 1, one warm-up step: scales
  // smaller than the paper's 64, which suit 16 classes and 12 dimensions. The USS bias is
  // initialised from the data once (data_dependent_once): afterwards SGD owns it, whatever its
  // sign (the official rule would set it from the data again whenever b <= 0).
  ufl::binary_options<T> uo;
  uo.s = T(16);
  uo.init = ufl::bias_init::data_dependent_once;
  ufl::embedded_options<T> eo;
  eo.warmup_epochs = 1;
  ufl::embedded_loss<T> loss(ufl::cosface_loss<T>(ufl::cosface_options<T>(T(0.2), T(16))),
                             ufl::uss_loss<T>(uo), eo);
  ufl::feature_memory<T> memory(identities, dim);
  T b = T(0);  // the USS bias: 0, so the first step with USS initialises it from the data
  loss.sample_to_sample().bind_bias(uf::make_vector_view(&b, 1));

  std::vector<T> z(std::size_t(batch * in_dim)), x(std::size_t(batch * dim));
  std::vector<index_t> y(static_cast<std::size_t>(batch));
  std::vector<T> grad_x(x.size()), grad_w(W.size());
  const ufl::gradients<T> grads(uf::make_matrix_view(grad_x.data(), batch, dim),
                                uf::make_matrix_view(grad_w.data(), identities, dim));
  const T lr = T(0.5), lr_bias = T(0.5);
  double first_loss = 0, last_loss = 0;

  for (index_t step = 0; step < steps; ++step) {
    sample(z, y);
    for (index_t i = 0; i < batch; ++i)  // forward of the model: x = E z
      for (index_t d = 0; d < dim; ++d) {
        T acc = 0;
        for (index_t k = 0; k < in_dim; ++k)
          acc += E[std::size_t(d * in_dim + k)] * z[std::size_t(i * in_dim + k)];
        x[std::size_t(i * dim + d)] = acc;
      }
    const index_t epoch = step == 0 ? 0 : 1;  // step 0 fills the memory (the warm-up)
    const ufl::embedded_result<T> r =
        loss.step(uf::host_policy{}, uf::make_matrix_view<const T>(x.data(), batch, dim),
                  uf::make_vector_view<const index_t>(y.data(), batch),
                  uf::make_matrix_view<const T>(W.data(), identities, dim), grads, memory, epoch);
    // SGD. The gradients were written (not accumulated) by the step.
    for (index_t d = 0; d < dim; ++d)  // dL/dE = sum_i dL/dx_i z_i^T
      for (index_t k = 0; k < in_dim; ++k) {
        T g = 0;
        for (index_t i = 0; i < batch; ++i)
          g += grad_x[std::size_t(i * dim + d)] * z[std::size_t(i * in_dim + k)];
        E[std::size_t(d * in_dim + k)] -= lr * g;
      }
    for (std::size_t k = 0; k < W.size(); ++k) W[k] -= lr * grad_w[k];
    const auto& uss = loss.sample_to_sample();
    if (!r.grad_bias.empty()) b -= lr_bias * r.grad_bias[0];

    if (step == 1) first_loss = double(r.loss);  // the first step with both parts
    last_loss = double(r.loss);
    if (step % 10 == 0 || step == steps - 1) {
      // Verification at the learned threshold: cosines of fresh same / different pairs.
      int correct = 0, pairs = 0;
      for (int q = 0; q < 200; ++q) {
        const index_t a = pick(rng),
                      b = q % 2 ? a : (a + 1 + pick(rng) % (identities - 1)) % identities;
        std::vector<T> ea(std::size_t(dim), 0), eb(std::size_t(dim), 0);
        for (index_t d = 0; d < dim; ++d)
          for (index_t k = 0; k < in_dim; ++k) {
            const T w = E[std::size_t(d * in_dim + k)];
            ea[std::size_t(d)] +=
                w * (prototypes[std::size_t(a * in_dim + k)] + T(0.8) * normal(rng));
            eb[std::size_t(d)] +=
                w * (prototypes[std::size_t(b * in_dim + k)] + T(0.8) * normal(rng));
          }
        double dot = 0, na = 0, nb = 0;
        for (index_t d = 0; d < dim; ++d) {
          dot += double(ea[std::size_t(d)]) * eb[std::size_t(d)];
          na += double(ea[std::size_t(d)]) * ea[std::size_t(d)];
          nb += double(eb[std::size_t(d)]) * eb[std::size_t(d)];
        }
        const bool accepted = dot / std::sqrt(na * nb) >= double(uss.threshold());
        correct += accepted == (a == b);
        ++pairs;
      }
      std::printf(
          "step %2lld: loss %.4f = CosFace %.4f + USS %.4f  b %.3f  t = b/s %.3f  "
          "accuracy at t %.3f\n",
          static_cast<long long>(step), double(r.loss), double(r.s2c_loss), double(r.s2s_loss),
          double(uss.bias()), double(uss.threshold()), double(correct) / pairs);
    }
  }
  std::printf("loss %.4f -> %.4f\n", first_loss, last_loss);
  return last_loss < first_loss ? 0 : 1;
}
