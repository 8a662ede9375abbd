// unitsface: the eps of the losses' row normalisation, shared by the tile driver and the
// feature memory's normalised mirror (which must normalise exactly as a loss call would).
#pragma once

namespace unitsface::losses::detail {

/// PyTorch's F.normalize(eps=1e-5), as in the official head.py.
template <class T>
inline constexpr T normalize_eps = T(1e-5);

}  // namespace unitsface::losses::detail
