// SPDX-License-Identifier: MIT
// limited / AsyncLimited / ConcurrencyPool: the limit under many threads, FIFO order, named
// pools, slots given back however a run ends, cancelled waiters, the live counts.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QSignalSpy>
#include <QThread>
#include <QtTest/QtTest>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kompoz::Result;
using kompoztest::Tasks;

class tst_Limiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void neverExceedsLimitUnderThreads_data();
    void neverExceedsLimitUnderThreads();
    void fifoOrder();
    void namedPoolsShared();
    void namedPoolsSharedAcrossThreads();
    void firstLimitWins();
    void slotGivenBack_data();
    void slotGivenBack();
    void queuedRunCanceledLeavesQueue();
    void activeAndQueuedProperties();
    void badMaxConcurrent_data();
    void badMaxConcurrent();
    void accessorsAndRepr();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Limiter::neverExceedsLimitUnderThreads_data()
{
    QTest::addColumn<int>("limit");
    QTest::addColumn<bool>("async");
    QTest::newRow("1, synchronous tasks") << 1 << false;
    QTest::newRow("3, synchronous tasks") << 3 << false;
    QTest::newRow("3, tasks finished by other threads") << 3 << true;
}

void tst_Limiter::neverExceedsLimitUnderThreads()
{
    QFETCH(int, limit);
    QFETCH(bool, async);
    constexpr int Threads = 8;
    constexpr int RunsPerThread = 150;
    std::atomic<int> inFlight {0}, peak {0}, ran {0};
    auto enter = [&] {
        const int now = ++inFlight;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) { }
        ++ran;
    };
    // Synchronous: the work happens inside the call. Asynchronous: a job in one of four other
    // threads finishes the promise later.
    kompoztest::JobThreads finishers(4);
    auto rule = kompoz::asyncRule<int>([&](int) -> QFuture<bool> {
        enter();
        if (!async) {
            for (int i = 0; i < 50; ++i)
                QThread::yieldCurrentThread();
            --inFlight;
            return kompoztest::ready(true);
        }
        auto promise = std::make_shared<QPromise<bool>>();
        promise->start();
        QFuture<bool> f = promise->future();
        finishers.post([promise, &inFlight] {
            QThread::yieldCurrentThread();
            --inFlight; // before the result: the slot is still held until the run ends
            promise->addResult(true);
            promise->finish();
        });
        return f;
    });
    auto lim = kompoz::limited(rule, limit);
    std::atomic<int> okCount {0};
    std::vector<std::thread> threads;
    for (int t = 0; t < Threads; ++t) {
        threads.emplace_back([&] {
            QList<QFuture<Result<int>>> mine;
            for (int i = 0; i < RunsPerThread; ++i)
                mine.append(lim.run(i));
            for (auto &f : mine) {
                f.waitForFinished(); // a thread with no event loop
                if (f.resultCount() == 1 && f.result().ok)
                    ++okCount;
            }
        });
    }
    for (std::thread &t : threads)
        t.join();
    finishers.join();
    QCOMPARE(okCount.load(), Threads * RunsPerThread);
    QCOMPARE(ran.load(), Threads * RunsPerThread);
    QVERIFY2(peak.load() <= limit, qPrintable(QString::number(peak.load())));
    QVERIFY(lim.pool()->peakActive() <= limit);
    QCOMPARE(lim.pool()->active(), 0);
    QCOMPARE(lim.pool()->queued(), 0);
}

void tst_Limiter::fifoOrder()
{
    Tasks<bool> tasks;
    auto lim = kompoz::limited(kompoz::asyncRule<int>(tasks.fn()), 1);
    QList<QFuture<Result<int>>> futures;
    for (int i = 0; i < 6; ++i)
        futures.append(lim.run(i));
    QCOMPARE(tasks.started(), 1);
    QCOMPARE(lim.pool()->queued(), 5);
    for (int i = 0; i < 6; ++i) {
        QCOMPARE(tasks.started(), i + 1); // the next one starts only when a slot frees
        QCOMPARE(tasks.arg(i), i); // first come, first served
        tasks.finish(i, true);
        QVERIFY(kompoztest::waitFor(futures[i]));
        QCOMPARE(futures[i].result().ctx, i);
    }
    QCOMPARE(lim.pool()->active(), 0);
}

void tst_Limiter::namedPoolsShared()
{
    Tasks<bool> tasks;
    auto ruleA = kompoz::asyncRule<int>(tasks.fn(), QStringLiteral("a"));
    auto ruleB = kompoz::asyncRule<int>(tasks.fn(), QStringLiteral("b"));
    const QString name = QStringLiteral("tst_limiter-shared");
    auto a = kompoz::limited(ruleA, 2, name);
    auto b = kompoz::limited(ruleB, 2, name);
    auto unnamed = kompoz::limited(ruleA, 2);
    QCOMPARE(a.pool(), b.pool());
    QVERIFY(unnamed.pool() != a.pool()); // no name: a pool of its own
    QCOMPARE(a.name(), name);
    QFuture<Result<int>> fa = a.run(1);
    QFuture<Result<int>> fb = b.run(2);
    QFuture<Result<int>> fa2 = a.run(3); // the shared pool is full
    QCOMPARE(tasks.started(), 2);
    QCOMPARE(a.pool()->queued(), 1);
    QFuture<Result<int>> fu = unnamed.run(4); // an unrelated pool is not
    QCOMPARE(tasks.started(), 3);
    tasks.finish(1, true); // b's run ends: a's waiter takes the slot
    QCOMPARE(tasks.started(), 4);
    QCOMPARE(tasks.arg(3), 3);
    tasks.finish(0, true);
    tasks.finish(2, true);
    tasks.finish(3, true);
    for (auto *f : {&fa, &fb, &fa2, &fu})
        QVERIFY(kompoztest::waitFor(*f));
}

void tst_Limiter::namedPoolsSharedAcrossThreads()
{
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    const QString name = QStringLiteral("tst_limiter-threads");
    auto here = kompoz::limited(rule, 3, name);
    std::atomic<kompoz::ConcurrencyPool *> there {nullptr};
    std::thread t([&] {
        auto other = kompoz::limited(rule, 3, name);
        there = other.pool();
    });
    t.join();
    QCOMPARE(there.load(), here.pool());
    // A named pool announces its counts in the application's thread.
    QCOMPARE(here.pool()->thread(), QCoreApplication::instance()->thread());
}

void tst_Limiter::firstLimitWins()
{
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    const QString name = QStringLiteral("tst_limiter-first-wins");
    auto first = kompoz::limited(rule, 2, name);
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("tst_limiter-first-wins.*2.*5")));
    auto second = kompoz::limited(rule, 5, name);
    QCOMPARE(second.maxConcurrent(), 2);
    QCOMPARE(first.maxConcurrent(), 2);
    QCOMPARE(second.pool(), first.pool());
    auto third = kompoz::limited(rule, 2, name); // the same limit: no warning
    QCOMPARE(third.pool(), first.pool());
}

void tst_Limiter::slotGivenBack_data()
{
    QTest::addColumn<QString>("how");
    QTest::newRow("result") << "result";
    QTest::newRow("failed verdict") << "false";
    QTest::newRow("exception") << "exception";
    QTest::newRow("thrown by the function") << "throw";
    QTest::newRow("caller cancelled") << "cancel";
    QTest::newRow("timed out") << "timeout";
    QTest::newRow("task gave up") << "giveUp";
}

void tst_Limiter::slotGivenBack()
{
    QFETCH(QString, how);
    Tasks<bool> tasks;
    std::atomic<bool> throwNext {how == QLatin1String("throw")};
    auto rule = kompoz::asyncRule<int>([&](int x) -> QFuture<bool> {
        if (throwNext.exchange(false))
            throw std::runtime_error("thrown");
        return tasks.start(x);
    });
    auto lim = kompoz::limited(rule, 1);
    kompoz::AsyncCombinator<int> outer = lim;
    if (how == QLatin1String("timeout"))
        outer = kompoz::withTimeout(lim, 50ms);
    QFuture<Result<int>> first = outer.run(1);
    QFuture<Result<int>> second = lim.run(2); // waits for the slot
    const int firstTask = how == QLatin1String("throw") ? -1 : 0;
    if (firstTask == 0) {
        QCOMPARE(tasks.started(), 1);
        QCOMPARE(lim.pool()->queued(), 1);
    }
    if (how == QLatin1String("result"))
        tasks.finish(0, true);
    else if (how == QLatin1String("false"))
        tasks.finish(0, false);
    else if (how == QLatin1String("exception"))
        tasks.fail(0, std::runtime_error("late"));
    else if (how == QLatin1String("cancel"))
        first.cancel();
    else if (how == QLatin1String("giveUp"))
        tasks.giveUp(0);
    QVERIFY(kompoztest::waitFor(first));
    // The waiting run got the slot.
    const int secondTask = firstTask + 1;
    QVERIFY(tasks.waitForStarted(secondTask + 1));
    QCOMPARE(tasks.arg(secondTask), 2);
    QCOMPARE(lim.pool()->active(), 1);
    QCOMPARE(lim.pool()->queued(), 0);
    tasks.finish(secondTask, true);
    QVERIFY(kompoztest::waitFor(second));
    QCOMPARE(second.result().ok, true);
    QCOMPARE(lim.pool()->active(), 0);
    if (how == QLatin1String("cancel") || how == QLatin1String("timeout"))
        QVERIFY(tasks.isCanceled(0));
}

void tst_Limiter::queuedRunCanceledLeavesQueue()
{
    Tasks<bool> tasks;
    auto lim = kompoz::limited(kompoz::asyncRule<int>(tasks.fn()), 1);
    QFuture<Result<int>> running = lim.run(1);
    QFuture<Result<int>> waiting = lim.run(2);
    QFuture<Result<int>> after = lim.run(3);
    QCOMPARE(lim.pool()->queued(), 2);
    waiting.cancel();
    QVERIFY(kompoztest::waitFor(waiting)); // finishes, with no result
    QVERIFY(waiting.isCanceled());
    QCOMPARE(waiting.resultCount(), 0);
    QTRY_COMPARE(lim.pool()->queued(), 1);
    tasks.finish(0, true);
    QVERIFY(kompoztest::waitFor(running));
    // The cancelled run never started: the next task is run 3's.
    QCOMPARE(tasks.started(), 2);
    QCOMPARE(tasks.arg(1), 3);
    tasks.finish(1, true);
    QVERIFY(kompoztest::waitFor(after));
    QCOMPARE(after.result().ctx, 3);
    QCOMPARE(tasks.started(), 2);

    // Also when the waiter is cancelled from the callback path's handle.
    QFuture<Result<int>> hold = lim.run(4);
    std::atomic<int> callbacks {0};
    kompoz::Outcome outcome = kompoz::Outcome::Success;
    kompoz::RunHandle h = lim.run(5, [&](kompoz::Completion<int> c) {
        outcome = c.outcome;
        ++callbacks;
    });
    QVERIFY(h.isPending());
    QCOMPARE(lim.pool()->queued(), 1);
    h.cancel();
    QCOMPARE(callbacks.load(), 1);
    QCOMPARE_ENUM(outcome, kompoz::Outcome::Canceled);
    QCOMPARE(lim.pool()->queued(), 0);
    tasks.finish(2, true);
    QVERIFY(kompoztest::waitFor(hold));
    QCOMPARE(tasks.started(), 3);
}

void tst_Limiter::activeAndQueuedProperties()
{
    Tasks<bool> tasks;
    auto lim = kompoz::limited(kompoz::asyncRule<int>(tasks.fn()), 2);
    QObject *pool = lim.pool();
    QSignalSpy active(lim.pool(), &kompoz::ConcurrencyPool::activeChanged);
    QSignalSpy queued(lim.pool(), &kompoz::ConcurrencyPool::queuedChanged);
    QVERIFY(active.isValid());
    QVERIFY(queued.isValid());
    QList<QFuture<Result<int>>> fs {lim.run(1), lim.run(2), lim.run(3)};
    QCOMPARE(pool->property("active").toInt(), 2);
    QCOMPARE(pool->property("queued").toInt(), 1);
    QCOMPARE(pool->property("maxConcurrent").toInt(), 2);
    // Announced coalesced, in the pool's thread: wait for the values, not a count of emits.
    QTRY_VERIFY(!active.isEmpty() && active.last().at(0).toInt() == 2);
    QTRY_VERIFY(!queued.isEmpty() && queued.last().at(0).toInt() == 1);
    tasks.finish(0, true);
    tasks.finish(1, true);
    QTRY_VERIFY(queued.last().at(0).toInt() == 0);
    QTRY_VERIFY(active.last().at(0).toInt() == 1);
    tasks.finish(2, true);
    QTRY_VERIFY(active.last().at(0).toInt() == 0);
    for (auto &f : fs)
        QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(pool->property("peakActive").toInt(), 2);
    const QMetaObject *mo = pool->metaObject();
    QCOMPARE(mo->property(mo->indexOfProperty("active")).notifySignal(),
             QMetaMethod::fromSignal(&kompoz::ConcurrencyPool::activeChanged));
    QCOMPARE(mo->property(mo->indexOfProperty("queued")).notifySignal(),
             QMetaMethod::fromSignal(&kompoz::ConcurrencyPool::queuedChanged));
}

using Maker = std::function<void()>;
Q_DECLARE_METATYPE(Maker)

void tst_Limiter::badMaxConcurrent_data()
{
    static auto rule = kompoz::asyncRule<int>([](int) { return true; });
    QTest::addColumn<Maker>("make");
    QTest::addColumn<QString>("parameter");
    QTest::newRow("0") << Maker([] { kompoz::limited(rule, 0); }) << "maxConcurrent";
    QTest::newRow("-3") << Maker([] { kompoz::limited(rule, -3); }) << "maxConcurrent";
    QTest::newRow("named 0") << Maker([] {
        kompoz::limited(rule, 0, QStringLiteral("tst_limiter-bad"));
    }) << "maxConcurrent";
    QTest::newRow("empty inner") << Maker([] {
        kompoz::limited(kompoz::AsyncCombinator<int>(), 1);
    }) << "inner";
    QTest::newRow("setter 0") << Maker([] { kompoz::limited(rule, 1).pool()->setMaxConcurrent(0); })
                              << "maxConcurrent";
}

void tst_Limiter::badMaxConcurrent()
{
    QFETCH(Maker, make);
    QFETCH(QString, parameter);
    const QString message = kompoztest::invalidArgumentMessage(make);
    QVERIFY2(message.contains(parameter), qPrintable(message));
}

void tst_Limiter::accessorsAndRepr()
{
    auto rule = kompoz::asyncRule<int>([](int) { return true; }, QStringLiteral("api"));
    auto lim = kompoz::limited(rule, 4);
    QCOMPARE(lim.maxConcurrent(), 4);
    QCOMPARE(lim.name(), QString());
    QVERIFY(lim.repr().contains(QLatin1String("AsyncLimited")));
    QVERIFY(lim.repr().contains(QLatin1String("4")));
    QCOMPARE(lim.repr(), QStringLiteral("AsyncLimited(AsyncPredicate(api), max_concurrent=4)"));
    auto named = kompoz::limited(rule, 3, QStringLiteral("tst_limiter-repr"));
    QCOMPARE(named.repr(),
             QStringLiteral("AsyncLimited(AsyncPredicate(api), max_concurrent=3, "
                            "name='tst_limiter-repr')"));
}

QTEST_GUILESS_MAIN(tst_Limiter)
#include "tst_limiter.moc"
