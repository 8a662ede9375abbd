// The cross-backend agreement suite (tests/backends/test_agreement.cpp) on the cuda backend:
// every loss on the device against host_policy.
#include "test_agreement.cpp"
