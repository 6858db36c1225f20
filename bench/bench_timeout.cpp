// SPDX-License-Identifier: MIT
// W4: n runs started at once through withTimeout(rule, 10s); every task finishes when one 1 ms
// timer, started after all calls were issued, fires. The bare burst is the same without the
// library. At the tick the workload records how many deadlines the library's timer service
// holds and how many QObjects are alive, to show that no QTimer is made per pending run.

#include "burst.h"
#include "tasks.h"
#include "workloads.h"

#include <kompoz/kompoz.h>

#include <QTimer>

namespace bench {
namespace {
using namespace std::chrono_literals;

enum class Kind { Bare, Future, Callback };

Variant w4(qint64 n, Kind kind)
{
    auto run = [kind](qint64 n, QJsonObject &checks) {
        auto timeout = kompoz::withTimeout(
                kompoz::asyncRule<int>([](int i) { return sharedTickTask(i); }), 10s);
        taskState().reset();
        tickPromises().reserve(size_t(n));
        Countdown done(n);
        int timersAtTick = -1;
        const auto t0 = clockStart();
        for (qint64 i = 0; i < n; ++i) {
            switch (kind) {
            case Kind::Bare:
                sharedTickTask(int(i)).then([&done](bool v) { done.hit(v); });
                break;
            case Kind::Future:
                timeout.run(int(i)).then([&done](const kompoz::Result<int> &r) { done.hit(r.ok); });
                break;
            case Kind::Callback:
                timeout.run(int(i),
                            [&done](const kompoz::Completion<int> &r) { done.hit(r.result.ok); });
                break;
            }
        }
        QTimer::singleShot(1ms, Qt::PreciseTimer, [&timersAtTick] {
            timersAtTick = kompoz::detail::TimerService::instance().pendingTimers();
            resolveTick();
        });
        done.wait();
        const qint64 ns = nsSince(t0);
        // A run still pending when its 10 s deadline passes times out: with 1M runs on a busy
        // machine, issuing them all can take longer than that. Counted, not hidden.
        const int timedOut = timeout.policy()->timedOutCount();
        require(done.ok() + timedOut == n, "W4: every run ok or timed out");
        if (kind == Kind::Bare || n <= 100000)
            require(timedOut == 0, "W4: no timeout");
        require(taskState().maxInFlight == n, "W4: all pending at once");
        if (kind != Kind::Bare)
            require(timersAtTick == n, "W4: one deadline per pending run");
        checks.insert(QStringLiteral("all_ok"), timedOut == 0);
        checks.insert(QStringLiteral("timeouts_fired"), timedOut);
        checks.insert(QStringLiteral("max_in_flight"), taskState().maxInFlight.load());
        checks.insert(QStringLiteral("pending_deadlines_at_tick"), timersAtTick);
        return ns;
    };
    static const char *ids[] = {"W4.bare", "W4.future", "W4.cb"};
    static const char *labels[] = {"W4 bare burst: n tasks done by one 1 ms tick",
                                   "W4 withTimeout(rule, 10s), QFuture path",
                                   "W4 withTimeout(rule, 10s), callback path"};
    return {QLatin1String(ids[int(kind)]), QLatin1String(labels[int(kind)]),
            kind == Kind::Bare ? QString() : QStringLiteral("W4.bare"), n, run};
}
} // namespace

std::vector<Variant> timeoutGroup(qint64 n)
{
    return {w4(n, Kind::Bare), w4(n, Kind::Future), w4(n, Kind::Callback)};
}

} // namespace bench
