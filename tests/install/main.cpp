// SPDX-License-Identifier: MIT
#include <kompoz/kompoz.h>

#include <QCoreApplication>

#include <cstdio>

using namespace std::chrono_literals;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    auto positive = kompoz::asyncRule<int>([](int x) { return x > 0; }, QStringLiteral("positive"));
    auto guarded = kompoz::circuitBreaker(kompoz::withTimeout(kompoz::limited(positive, 4), 1s), 3);
    const kompoz::Result<int> r = guarded.run(5).result();
    std::printf("%s -> %d\n", qPrintable(guarded.repr()), int(r.ok));
    return r.ok && guarded.stats().successCount == 1 ? 0 : 1;
}
