// SPDX-License-Identifier: MIT
// libFuzzer entry point: the library against the reference model (harness.h). A difference
// aborts, so libFuzzer saves the input; add it to fuzz/corpus/ and tests/tst_model replays it.
//   cmake --preset fuzz && cmake --build --preset fuzz
//   build/fuzz/fuzz/fuzz_combinators -max_total_time=60 fuzz/corpus

#include "harness.h"

#include <QCoreApplication>

#include <cstdio>
#include <cstdlib>

// The timer service's thread runs a Qt event loop, which Qt allows only once a
// QCoreApplication exists.
extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static QCoreApplication app(*argc, *argv);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, size_t size)
{
    const std::string diff = kompozfuzz::check(data, size);
    if (!diff.empty()) {
        std::fprintf(stderr, "kompoz differs from the model: %s\n", diff.c_str());
        std::abort();
    }
    return 0;
}
