// unitsface: the core (module header): configuration, errors, views, policies, scalar math,
// reductions, host shares and the gradient checker.
#pragma once

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/gradcheck.hpp"
#include "unitsface/core/math.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/policy_concept.hpp"
#include "unitsface/core/reduction.hpp"
#include "unitsface/core/shares.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/core/workspace.hpp"
