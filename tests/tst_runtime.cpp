// SPDX-License-Identifier: MIT
// Threads and event loops: run() from threads without an event loop, blocking waits on the
// main thread, cancelling returned futures, and signals reaching a receiver in the main thread.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QThread>
#include <QtTest/QtTest>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kompoz::AsyncCombinator;
using kompoz::CircuitState;
using kompoz::Result;
using kompoztest::Tasks;

Q_DECLARE_METATYPE(AsyncCombinator<int>)

namespace {
//! A QPromise finished later by a job in another thread: work that ends in another thread.
QFuture<bool> finishedElsewhere(kompoztest::JobThreads *finishers, bool verdict)
{
    auto promise = std::make_shared<QPromise<bool>>();
    promise->start();
    QFuture<bool> f = promise->future();
    finishers->post([promise, verdict] {
        QThread::yieldCurrentThread();
        promise->addResult(verdict);
        promise->finish();
    });
    return f;
}
} // namespace

class tst_Runtime : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void runFromWorkerThreadsWithoutEventLoop();
    void waitForFinishedOnMainThread();
    void cancelReturnedFuture_data();
    void cancelReturnedFuture();
    void cancelFromWorkerWithoutEventLoop();
    void cancelAfterFinishKeepsResult();
    void signalsReachMainThreadReceiver();
    void countsConsistentUnderConcurrency();
    void runNeverBlocksCaller();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Runtime::runFromWorkerThreadsWithoutEventLoop()
{
    kompoztest::JobThreads finishers(2);
    Tasks<bool> never;
    auto work = kompoz::asyncRule<int>([&](int x) -> QFuture<bool> {
        switch (x % 10) {
        case 0:
        case 1:
        case 2:
        case 3:
            return kompoztest::ready(true); // already done
        case 4:
        case 5:
        case 6:
        case 7:
        case 8:
            return finishedElsewhere(&finishers, true); // done in another thread
        default:
            return never.start(x); // never done: the timeout ends it
        }
    });
    auto guarded = kompoz::circuitBreaker(kompoz::limited(kompoz::withTimeout(work, 2s), 32),
                                          1000000, 30s);
    constexpr int Jobs = 8, RunsPerJob = 30;
    kompoztest::JobThreads workers(Jobs); // one job each, as in a pool of eight
    std::atomic<int> ok {0}, notOk {0}, noResult {0};
    for (int j = 0; j < Jobs; ++j) {
        workers.post([&, j] {
            QList<QFuture<Result<int>>> fs;
            for (int i = 0; i < RunsPerJob; ++i)
                fs.append(guarded.run(j * RunsPerJob + i));
            for (auto &f : fs) {
                f.waitForFinished(); // no event loop in this thread
                if (f.resultCount() == 0)
                    ++noResult;
                else if (f.result().ok)
                    ++ok;
                else
                    ++notOk;
            }
        });
    }
    workers.join();
    finishers.join();
    // x % 10 == 9 never finishes: the timeout ends those runs with {false, ctx}. (At most 24
    // of them, all in flight at once within the limit of 32: one 2 s wait in all.)
    const int total = Jobs * RunsPerJob;
    int expectedFailures = 0;
    for (int x = 0; x < total; ++x)
        expectedFailures += x % 10 == 9 ? 1 : 0;
    QCOMPARE(noResult.load(), 0);
    QCOMPARE(notOk.load(), expectedFailures);
    QCOMPARE(ok.load(), total - expectedFailures);
    QCOMPARE(guarded.stats().successCount, total - expectedFailures);
    QCOMPARE(never.canceled(), expectedFailures); // each timed-out task was cancelled
}

void tst_Runtime::waitForFinishedOnMainThread()
{
    kompoztest::JobThreads finishers(2);
    auto rule = kompoz::asyncRule<int>([&](int) { return finishedElsewhere(&finishers, true); });
    auto chain = kompoz::circuitBreaker(kompoz::limited(rule & rule, 1)) >> rule;
    QFuture<Result<int>> f = chain.run(1);
    f.waitForFinished(); // the main thread blocks; nothing here needs its event loop
    QCOMPARE(f.result().ok, true);
    finishers.join();
}

void tst_Runtime::cancelReturnedFuture_data()
{
    QTest::addColumn<AsyncCombinator<int>>("combinator");
    QTest::addColumn<QSharedPointer<Tasks<bool>>>("tasks");
    auto add = [](const char *name, auto make) {
        auto tasks = QSharedPointer<Tasks<bool>>::create();
        auto leaf = kompoz::asyncRule<int>(tasks->fn());
        QTest::newRow(name) << AsyncCombinator<int>(make(leaf)) << tasks;
    };
    add("rule", [](AsyncCombinator<int> l) { return l; });
    add("& chain", [](AsyncCombinator<int> l) {
        return kompoz::asyncRule<int>([](int) { return true; }) & l;
    });
    add("timeout", [](AsyncCombinator<int> l) { return kompoz::withTimeout(l, 30s); });
    add("limited", [](AsyncCombinator<int> l) { return kompoz::limited(l, 1); });
    add("breaker", [](AsyncCombinator<int> l) { return kompoz::circuitBreaker(l); });
    add("parallelAnd", [](AsyncCombinator<int> l) { return kompoz::parallelAnd({l}); });
    add("parallelOr", [](AsyncCombinator<int> l) { return kompoz::parallelOr({l}); });
    add("all layers", [](AsyncCombinator<int> l) {
        return kompoz::circuitBreaker(kompoz::withTimeout(kompoz::limited(l, 2), 30s));
    });
}

void tst_Runtime::cancelReturnedFuture()
{
    QFETCH(AsyncCombinator<int>, combinator);
    QFETCH(QSharedPointer<Tasks<bool>>, tasks);
    QFuture<Result<int>> f = combinator.run(1);
    QCOMPARE(tasks->started(), 1);
    QVERIFY(!f.isFinished());
    f.cancel();
    f.waitForFinished(); // returns: the cancelled future finishes
    QVERIFY(f.isCanceled());
    QCOMPARE(f.resultCount(), 0);
    QVERIFY(tasks->isCanceled(0)); // the inner work it waited on was cancelled
}

void tst_Runtime::cancelFromWorkerWithoutEventLoop()
{
    Tasks<bool> tasks;
    auto c = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 30s);
    std::atomic<bool> finished {false}, canceled {false};
    std::thread t([&] {
        QFuture<Result<int>> f = c.run(1);
        f.cancel();
        f.waitForFinished();
        finished = f.isFinished();
        canceled = f.isCanceled() && f.resultCount() == 0;
    });
    t.join();
    QVERIFY(finished.load());
    QVERIFY(canceled.load());
    QVERIFY(tasks.isCanceled(0));
}

void tst_Runtime::cancelAfterFinishKeepsResult()
{
    Tasks<bool> tasks;
    auto c = kompoz::asyncRule<int>(tasks.fn());
    QFuture<Result<int>> f = c.run(1);
    tasks.finish(0, true);
    QVERIFY(kompoztest::waitFor(f));
    f.cancel(); // too late: Qt keeps the result (qt64-pitfalls #5)
    QCOMPARE(f.resultCount(), 1);
    QCOMPARE(f.result().ok, true);
}

void tst_Runtime::signalsReachMainThreadReceiver()
{
    auto failing = kompoz::asyncRule<int>([](int) { return false; });
    auto cb = kompoz::circuitBreaker(failing, 5, 30s);
    Tasks<bool> never;
    auto timed = kompoz::withTimeout(kompoz::asyncRule<int>(never.fn()), 50ms);
    QObject receiver; // lives in the main thread
    std::atomic<int> states {0}, rejected {0}, timedOut {0};
    std::atomic<bool> wrongThread {false};
    auto check = [&] {
        if (QThread::currentThread() != thread())
            wrongThread = true;
    };
    connect(cb.breaker(), &kompoz::CircuitBreaker::stateChanged, &receiver, [&](CircuitState s) {
        check();
        if (s == CircuitState::Open)
            ++states;
    });
    connect(cb.breaker(), &kompoz::CircuitBreaker::callRejected, &receiver, [&] {
        check();
        ++rejected;
    });
    connect(timed.policy(), &kompoz::TimeoutPolicy::runTimedOut, &receiver, [&] {
        check(); // emitted by the timer thread, delivered here
        ++timedOut;
    });
    kompoztest::JobThreads workers(4);
    for (int j = 0; j < 4; ++j) {
        workers.post([&] {
            for (int i = 0; i < 5; ++i)
                cb.run(i).waitForFinished();
        });
    }
    QFuture<Result<int>> late = timed.run(1);
    workers.join();
    QTRY_COMPARE(states.load(), 1);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    QTRY_COMPARE(rejected.load(), cb.stats().rejectedCount);
    QVERIFY(rejected.load() > 0);
    QTRY_COMPARE(timedOut.load(), 1);
    QVERIFY(!wrongThread.load());
    QVERIFY(kompoztest::waitFor(late));
}

void tst_Runtime::countsConsistentUnderConcurrency()
{
    auto verdict = kompoz::asyncRule<int>([](int x) { return x % 2 == 0; });
    auto cb = kompoz::circuitBreaker(verdict, 1000000, 30s);
    auto timed = kompoz::withTimeout(cb, 30s);
    constexpr int Threads = 8, Runs = 250;
    std::vector<std::thread> threads;
    for (int t = 0; t < Threads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < Runs; ++i)
                timed.run(t * Runs + i).waitForFinished();
        });
    }
    for (std::thread &t : threads)
        t.join();
    QCOMPARE(cb.stats().successCount, Threads * Runs / 2);
    QCOMPARE(cb.stats().rejectedCount, 0);
    QCOMPARE(timed.policy()->timedOutCount(), 0);
}

void tst_Runtime::runNeverBlocksCaller()
{
    // A full limiter queues the run instead of blocking this thread.
    Tasks<bool> tasks;
    auto lim = kompoz::limited(kompoz::asyncRule<int>(tasks.fn()), 1);
    QFuture<Result<int>> first = lim.run(1);
    QFuture<Result<int>> second = lim.run(2); // returns at once, not finished
    QVERIFY(!second.isFinished());
    // The event loop keeps running while the run waits.
    bool ticked = false;
    QTimer::singleShot(0, this, [&] { ticked = true; });
    QTRY_VERIFY(ticked);
    tasks.finish(0, true);
    QVERIFY(tasks.waitForStarted(2));
    tasks.finish(1, true);
    QVERIFY(kompoztest::waitFor(second));
    QVERIFY(kompoztest::waitFor(first));
}

QTEST_GUILESS_MAIN(tst_Runtime)
#include "tst_runtime.moc"
