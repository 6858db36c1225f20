// SPDX-License-Identifier: MIT
// B0, W1 (breaker), W2 (both pipelines) and W5 (open breaker): sequential calls, each awaited
// before the next starts, as the peers script's seqLoop().

#include "sequential.h"

#include <kompoz/kompoz.h>

#include <chrono>

namespace bench {
using namespace std::chrono_literals;
using kompoz::Completion;
using kompoz::Result;

// ---- Floors ----------------------------------------------------------------------------------

Variant floorReady(qint64 n)
{
    return {QStringLiteral("B0.future.ready"),
            QStringLiteral("B0 floor: ready QFuture<bool>, awaited by one then()"),
            {},
            n,
            [](qint64 n, QJsonObject &checks) {
                qint64 ok = 0;
                const auto t0 = clockStart();
                for (qint64 i = 0; i < n; ++i)
                    readyTask(int(i)).then([&ok](bool v) { ok += v; });
                const qint64 ns = nsSince(t0);
                require(ok == n, "B0 ready: all ok");
                checks.insert(QStringLiteral("all_ok"), true);
                return ns;
            },
            20000};
}

Variant floorPromise(qint64 n)
{
    return {QStringLiteral("B0.future.promise"),
            QStringLiteral("B0 floor: QPromise fulfilled right after the call, one then()"),
            {},
            n,
            [](qint64 n, QJsonObject &checks) {
                qint64 ok = 0;
                const auto t0 = clockStart();
                for (qint64 i = 0; i < n; ++i) {
                    promiseTask(int(i)).then([&ok](bool v) { ok += v; });
                    fulfilPromise();
                }
                const qint64 ns = nsSince(t0);
                require(ok == n, "B0 promise: all ok");
                checks.insert(QStringLiteral("all_ok"), true);
                return ns;
            },
            20000};
}

Variant floorReadNow(qint64 n)
{
    return {QStringLiteral("B0.readnow.ready"),
            QStringLiteral("B0 floor: ready QFuture<bool>, read at once (no then)"),
            {},
            n,
            [](qint64 n, QJsonObject &checks) {
                qint64 ok = 0;
                const auto t0 = clockStart();
                for (qint64 i = 0; i < n; ++i) {
                    QFuture<bool> f = readyTask(int(i));
                    ok += f.isFinished() && f.result();
                }
                const qint64 ns = nsSince(t0);
                require(ok == n, "B0 readnow: all ok");
                checks.insert(QStringLiteral("all_ok"), true);
                return ns;
            },
            20000};
}

Variant floorPlain(qint64 n)
{
    return {QStringLiteral("B0.cb.plain"),
            QStringLiteral("B0 floor: plain bool task, result passed to a callback"),
            {},
            n,
            [](qint64 n, QJsonObject &checks) {
                qint64 ok = 0;
                auto callback = [&ok](bool v) { ok += v; };
                const auto t0 = clockStart();
                for (qint64 i = 0; i < n; ++i)
                    callback(plainTask(int(i)));
                const qint64 ns = nsSince(t0);
                require(ok == n, "B0 plain: all ok");
                checks.insert(QStringLiteral("all_ok"), true);
                return ns;
            },
            20000};
}

// ---- Runs through a combinator -----------------------------------------------------------------

namespace {
Variant w1(qint64 n, Task task, Path path)
{
    return sequential(
            QStringLiteral("W1.%1.%2").arg(pathName(path), taskName(task)),
            QStringLiteral("W1 circuitBreaker(rule), %1, %2 task")
                    .arg(pathLabel(path), taskName(task)),
            floorFor(task, path), n, task, path,
            [task] { return std::make_tuple(kompoz::circuitBreaker(ruleFor(task))); },
            [](const auto &parts, qint64 n, qint64 ok, QJsonObject &checks) {
                const auto &c = std::get<0>(parts);
                require(ok == n, "W1: all ok");
                require(c.state() == kompoz::CircuitState::Closed, "W1: closed");
                checks.insert(QStringLiteral("all_ok"), true);
                checks.insert(QStringLiteral("breaker_state"), kompoz::toString(c.state()));
            });
}

Variant w2a(qint64 n, Task task, Path path)
{
    return sequential(
            QStringLiteral("W2a.%1.%2").arg(pathName(path), taskName(task)),
            QStringLiteral("W2a withTimeout(circuitBreaker(rule), 1s), %1, %2 task")
                    .arg(pathLabel(path), taskName(task)),
            floorFor(task, path), n, task, path,
            [task] {
                auto breaker = kompoz::circuitBreaker(ruleFor(task));
                return std::make_tuple(kompoz::withTimeout(breaker, 1s), breaker);
            },
            [](const auto &pair, qint64 n, qint64 ok, QJsonObject &checks) {
                require(ok == n, "W2a: all ok");
                require(std::get<0>(pair).policy()->timedOutCount() == 0, "W2a: no timeout");
                require(std::get<1>(pair).state() == kompoz::CircuitState::Closed, "W2a: closed");
                checks.insert(QStringLiteral("all_ok"), true);
                checks.insert(QStringLiteral("timeouts_fired"),
                              std::get<0>(pair).policy()->timedOutCount());
                checks.insert(QStringLiteral("breaker_state"),
                              kompoz::toString(std::get<1>(pair).state()));
            });
}

Variant w2b(qint64 n, Task task, Path path)
{
    return sequential(
            QStringLiteral("W2b.%1.%2").arg(pathName(path), taskName(task)),
            QStringLiteral("W2b circuitBreaker(withTimeout(limited(rule, 64), 1s)), %1, %2 task")
                    .arg(pathLabel(path), taskName(task)),
            floorFor(task, path), n, task, path,
            [task] {
                auto lim = kompoz::limited(ruleFor(task), 64);
                auto timeout = kompoz::withTimeout(lim, 1s);
                return std::make_tuple(kompoz::circuitBreaker(timeout), timeout, lim);
            },
            [](const auto &t, qint64 n, qint64 ok, QJsonObject &checks) {
                require(ok == n, "W2b: all ok");
                require(std::get<1>(t).policy()->timedOutCount() == 0, "W2b: no timeout");
                require(std::get<0>(t).state() == kompoz::CircuitState::Closed, "W2b: closed");
                require(std::get<2>(t).pool()->active() == 0, "W2b: slots given back");
                checks.insert(QStringLiteral("all_ok"), true);
                checks.insert(QStringLiteral("timeouts_fired"),
                              std::get<1>(t).policy()->timedOutCount());
                checks.insert(QStringLiteral("breaker_state"),
                              kompoz::toString(std::get<0>(t).state()));
                checks.insert(QStringLiteral("peak_active"), std::get<2>(t).pool()->peakActive());
            });
}

} // namespace

std::vector<Variant> breakerGroup(qint64 n)
{
    return {floorReady(n),
            floorPromise(n),
            floorReadNow(n),
            floorPlain(n),
            w1(n, Task::Ready, Path::Future),
            w1(n, Task::Promise, Path::Future),
            w1(n, Task::Plain, Path::Callback),
            w1(n, Task::Ready, Path::Callback)};
}

std::vector<Variant> pipelineGroup(qint64 n)
{
    return {floorReady(n),
            floorPromise(n),
            floorPlain(n),
            w2a(n, Task::Ready, Path::Future),
            w2a(n, Task::Promise, Path::Future),
            w2b(n, Task::Ready, Path::Future),
            w2b(n, Task::Promise, Path::Future),
            w2a(n, Task::Plain, Path::Callback),
            w2b(n, Task::Plain, Path::Callback)};
}

namespace {
//! A breaker opened by 5 failures, recovery one hour: every later run is rejected.
kompoz::AsyncCircuitBreaker<int> openedBreaker()
{
    auto flaky = kompoz::asyncRule<int>([](int) {
        TaskState &st = taskState();
        st.calls.fetch_add(1);
        return readyFuture(!st.fail.load());
    });
    auto c = kompoz::circuitBreaker(flaky, 5, 1h);
    taskState().reset();
    taskState().fail = true;
    for (int i = 0; i < 5; ++i)
        c.run(i).waitForFinished();
    taskState().fail = false;
    require(c.state() == kompoz::CircuitState::Open, "W5: open");
    return c;
}

enum class W5Await { Then, ReadNow, Callback };

Variant w5(qint64 n, W5Await how)
{
    static const char *ids[] = {"W5.future.then", "W5.future.readnow", "W5.cb.plain"};
    static const char *labels[] = {"W5 open breaker, QFuture path, awaited by then()",
                                   "W5 open breaker, QFuture path, read at once when finished",
                                   "W5 open breaker, callback path"};
    static const char *floors[] = {"B0.future.ready", "B0.future.ready", "B0.cb.plain"};
    const int k = int(how);
    auto run = [how](qint64 n, QJsonObject &checks) {
        auto c = openedBreaker();
        const qint64 callsBefore = taskState().calls;
        const int rejectedBefore = c.stats().rejectedCount;
        qint64 rejected = 0;
        const auto t0 = clockStart();
        switch (how) {
        case W5Await::Then:
            for (qint64 i = 0; i < n; ++i)
                c.run(int(i)).then([&rejected](const Result<int> &r) { rejected += !r.ok; });
            break;
        case W5Await::ReadNow:
            for (qint64 i = 0; i < n; ++i) {
                QFuture<Result<int>> f = c.run(int(i));
                if (f.isFinished())
                    rejected += !f.result().ok;
                else
                    f.then([&rejected](const Result<int> &r) { rejected += !r.ok; });
            }
            break;
        case W5Await::Callback:
            for (qint64 i = 0; i < n; ++i) {
                c.run(int(i), [&rejected](const Completion<int> &r) {
                    rejected += r.outcome == kompoz::Outcome::Rejected;
                });
            }
            break;
        }
        const qint64 ns = nsSince(t0);
        require(rejected == n, "W5: all rejected");
        require(taskState().calls == callsBefore, "W5: inner not called while open");
        require(c.stats().rejectedCount - rejectedBefore == n, "W5: rejections counted");
        require(c.state() == kompoz::CircuitState::Open, "W5: still open");
        checks.insert(QStringLiteral("rejected"), rejected);
        checks.insert(QStringLiteral("inner_calls_while_open"), taskState().calls - callsBefore);
        checks.insert(QStringLiteral("breaker_state"), kompoz::toString(c.state()));
        return ns;
    };
    return {QLatin1String(ids[k]),
            QLatin1String(labels[k]),
            QLatin1String(floors[k]),
            n,
            run,
            20000};
}
} // namespace

std::vector<Variant> openBreakerGroup(qint64 n)
{
    return {floorReady(n), floorPlain(n), w5(n, W5Await::Then), w5(n, W5Await::ReadNow),
            w5(n, W5Await::Callback)};
}

} // namespace bench
