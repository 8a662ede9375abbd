// unitsface: execution policies.
//
// As in Thrust, an algorithm takes an execution policy as its first argument; the policy says
// where the data lives and which implementation of each primitive runs. A policy type
// overrides a primitive by having a member of that name (see backends/primitives.hpp);
// anything it does not override falls back to the generic version, which is written on top
// of `for_each_index` and so runs on any system whose memory the policy can address.
#pragma once

namespace unitsface {

/// Sequential execution on host memory with the generic (plain loop) primitives. Every
/// other CPU policy derives from it and overrides what it does better.
struct host_policy {
  /// The data a policy's algorithms touch lives in host memory (false for device policies,
  /// whose results are read back through `copy_to_host`).
  static constexpr bool host_memory = true;
  static constexpr const char* name = "host";
};

/// The default policy: sequential, generic loops, no dependency.
inline constexpr host_policy seq{};

}  // namespace unitsface
