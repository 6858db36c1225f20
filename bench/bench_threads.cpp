// SPDX-License-Identifier: MIT
// Threads: W1 and W3 started from 1, 2 and 8 threads at once, sharing one breaker and one
// pool; the baselines run the same share per thread without the library. Time runs from the
// moment every thread is released until the last run has ended; ns per call = wall / calls.

#include "burst.h"
#include "tasks.h"
#include "workloads.h"

#include <kompoz/kompoz.h>

#include <QThread>

#include <memory>

namespace bench {
namespace {

//! Runs body(index) in `threads` fresh QThreads released together; returns the wall time.
qint64 inThreads(int threads, const std::function<void(int)> &body,
                 std::vector<std::unique_ptr<QThread>> *keep = nullptr)
{
    std::atomic<int> ready {0};
    std::atomic<bool> go {false};
    std::vector<std::unique_ptr<QThread>> local;
    auto &all = keep ? *keep : local;
    for (int t = 0; t < threads; ++t) {
        all.emplace_back(QThread::create([&, t] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire))
                QThread::yieldCurrentThread();
            body(t);
        }));
        all.back()->start();
    }
    while (ready.load() < threads)
        QThread::yieldCurrentThread();
    const auto t0 = clockStart();
    go.store(true, std::memory_order_release);
    for (auto &t : all)
        t->wait();
    return nsSince(t0);
}

qint64 share(qint64 n, int threads, int t) { return n / threads + (t < n % threads ? 1 : 0); }

QString tid(int threads, const char *what)
{
    return QStringLiteral("T%1.%2").arg(threads).arg(QLatin1String(what));
}

Variant floorReady(int threads, qint64 n)
{
    return {tid(threads, "B0.future.ready"),
            QStringLiteral("B0 floor from %1 thread(s)").arg(threads),
            {},
            n,
            [threads](qint64 n, QJsonObject &checks) {
                std::atomic<qint64> ok {0};
                const qint64 ns = inThreads(threads, [&](int t) {
                    qint64 mine = 0;
                    for (qint64 i = 0, m = share(n, threads, t); i < m; ++i)
                        readyTask(int(i)).then([&mine](bool v) { mine += v; });
                    ok += mine;
                });
                require(ok == n, "threads B0: all ok");
                checks.insert(QStringLiteral("all_ok"), true);
                return ns;
            },
            20000};
}

Variant floorPlain(int threads, qint64 n)
{
    return {tid(threads, "B0.cb.plain"),
            QStringLiteral("B0 plain floor from %1 thread(s)").arg(threads),
            {},
            n,
            [threads](qint64 n, QJsonObject &checks) {
                std::atomic<qint64> ok {0};
                const qint64 ns = inThreads(threads, [&](int t) {
                    qint64 mine = 0;
                    auto callback = [&mine](bool v) { mine += v; };
                    for (qint64 i = 0, m = share(n, threads, t); i < m; ++i)
                        callback(plainTask(int(i)));
                    ok += mine;
                });
                require(ok == n, "threads B0 plain: all ok");
                checks.insert(QStringLiteral("all_ok"), true);
                return ns;
            },
            20000};
}

Variant w1(int threads, qint64 n, bool future)
{
    auto run = [threads, future](qint64 n, QJsonObject &checks) {
        auto breaker = future
                ? kompoz::circuitBreaker(kompoz::asyncRule<int>([](int i) { return readyTask(i); }))
                : kompoz::circuitBreaker(
                          kompoz::asyncRule<int>([](int i) { return plainTask(i); }));
        std::atomic<qint64> ok {0};
        const qint64 ns = inThreads(threads, [&](int t) {
            qint64 mine = 0;
            const qint64 m = share(n, threads, t);
            if (future) {
                for (qint64 i = 0; i < m; ++i)
                    breaker.run(int(i)).then(
                            [&mine](const kompoz::Result<int> &r) { mine += r.ok; });
            } else {
                for (qint64 i = 0; i < m; ++i)
                    breaker.run(int(i),
                                [&mine](const kompoz::Completion<int> &r) { mine += r.result.ok; });
            }
            ok += mine;
        });
        require(ok == n, "threads W1: all ok");
        require(breaker.stats().successCount == n, "threads W1: every success counted");
        checks.insert(QStringLiteral("all_ok"), true);
        checks.insert(QStringLiteral("success_count"), breaker.stats().successCount);
        return ns;
    };
    return {tid(threads, future ? "W1.future.ready" : "W1.cb.plain"),
            QStringLiteral("W1 one shared breaker from %1 thread(s), %2")
                    .arg(threads)
                    .arg(future ? QLatin1String("QFuture path") : QLatin1String("callback path")),
            tid(threads, future ? "B0.future.ready" : "B0.cb.plain"),
            n,
            run,
            20000};
}

//! W3 from several threads: each thread starts its share and runs its event loop until every
//! run of every thread has ended (a run admitted by another thread's release starts there).
Variant w3(int threads, qint64 n, bool library)
{
    auto run = [threads, library](qint64 n, QJsonObject &checks) {
        auto lim = kompoz::limited(kompoz::asyncRule<int>([](int i) { return tickTask(i); }), 64);
        taskState().reset();
        std::atomic<qint64> left {n};
        std::atomic<qint64> ok {0};
        std::vector<std::unique_ptr<QThread>> all;
        auto hit = [&](bool v) {
            if (v)
                ok.fetch_add(1, std::memory_order_relaxed);
            if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                for (auto &t : all)
                    t->quit(); // ends each thread's event loop, also one not yet entered
            }
        };
        const qint64 ns = inThreads(
                threads,
                [&](int t) {
                    threadTicker();
                    const qint64 m = share(n, threads, t);
                    if (library) {
                        for (qint64 i = 0; i < m; ++i)
                            lim.run(int(i)).then(
                                    [&hit](const kompoz::Result<int> &r) { hit(r.ok); });
                    } else {
                        for (qint64 i = 0; i < m; ++i)
                            tickTask(int(i)).then([&hit](bool v) { hit(v); });
                    }
                    QEventLoop loop;
                    if (left.load() > 0)
                        loop.exec();
                },
                &all);
        require(ok == n && taskState().calls == n, "threads W3: all ok");
        if (library) {
            require(taskState().maxInFlight == qMin<qint64>(64, n), "threads W3: 64 in flight");
            checks.insert(QStringLiteral("pool_peak_active"), lim.pool()->peakActive());
        }
        checks.insert(QStringLiteral("all_ok"), true);
        checks.insert(QStringLiteral("max_in_flight"), taskState().maxInFlight.load());
        return ns;
    };
    return {tid(threads, library ? "W3.future" : "W3.bare"),
            library ? QStringLiteral("W3 one shared limited(rule, 64) from %1 thread(s)")
                              .arg(threads)
                    : QStringLiteral("W3 bare burst from %1 thread(s)").arg(threads),
            library ? tid(threads, "W3.bare") : QString(), n, run};
}
} // namespace

std::vector<Variant> threadsGroup(int threads, qint64 nSeq, qint64 nBurst)
{
    return {floorReady(threads, nSeq), w1(threads, nSeq, true),    floorPlain(threads, nSeq),
            w1(threads, nSeq, false),  w3(threads, nBurst, false), w3(threads, nBurst, true)};
}

} // namespace bench
