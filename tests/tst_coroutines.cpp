// SPDX-License-Identifier: MIT
// C++20 coroutines through QCoro: `co_await combinator.run(ctx)` works, because run() returns a
// plain QFuture and QCoro makes QFuture awaitable. Built only where find_package(QCoro6)
// succeeds; the library itself stays C++17 and does not need QCoro.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QCoroFuture>
#include <QCoroTask>
#include <QTimer>
#include <QtTest/QtTest>

#include <stdexcept>

using namespace std::chrono_literals;
using kompoz::Result;
using kompoztest::Tasks;

namespace {

// The README's example: check, then act on what the check returned.
QCoro::Task<Result<int>> validateThenStore(kompoz::AsyncCombinator<int> validate,
                                           kompoz::AsyncCombinator<int> store, int value)
{
    const auto [ok, checked] = co_await validate.run(value);
    if (!ok)
        co_return Result<int> {false, checked};
    co_return co_await store.run(checked);
}

QCoro::Task<QString> errorOf(kompoz::AsyncCombinator<int> c)
{
    try {
        co_await c.run(0);
    } catch (const std::exception &e) {
        co_return QString::fromUtf8(e.what());
    }
    co_return QString();
}

QCoro::Task<int> attemptsOf(kompoz::AsyncRetry<int> r)
{
    const kompoz::RetryResult<int> info = co_await r.runWithInfo(0);
    co_return info.attemptsMade;
}

} // namespace

class tst_Coroutines : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void awaitReadyRun();
    void awaitPendingRun();
    void exceptionReachesCoroutine();
    void awaitRunWithInfo();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Coroutines::awaitReadyRun()
{
    auto positive = kompoz::asyncRule<int>([](int x) { return x > 0; });
    auto twice = kompoz::asyncPipe<int>([](int x) { return x * 2; });
    const Result<int> r = QCoro::waitFor(validateThenStore(positive, twice, 21));
    QVERIFY(r.ok);
    QCOMPARE(r.ctx, 42);
    const Result<int> no = QCoro::waitFor(validateThenStore(positive, twice, -1));
    QVERIFY(!no.ok);
    QCOMPARE(no.ctx, -1);
}

void tst_Coroutines::awaitPendingRun()
{
    // The task finishes later, from the event loop: the coroutine is resumed then.
    Tasks<bool> tasks;
    auto slow = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 5s);
    auto store = kompoz::asyncPipe<int>([](int x) { return x + 1; });
    QTimer::singleShot(20ms, this, [&tasks] { tasks.finish(0, true); });
    const Result<int> r = QCoro::waitFor(validateThenStore(slow, store, 1));
    QVERIFY(r.ok);
    QCOMPARE(r.ctx, 2);
}

void tst_Coroutines::exceptionReachesCoroutine()
{
    auto throwing = kompoz::asyncRule<int>(
            [](int) -> bool { throw std::runtime_error("from the rule"); });
    QCOMPARE(QCoro::waitFor(errorOf(throwing)), QStringLiteral("from the rule"));
}

void tst_Coroutines::awaitRunWithInfo()
{
    std::atomic<int> calls {0};
    auto flaky = kompoz::asyncRule<int>([&calls](int) { return ++calls >= 3; });
    QCOMPARE(QCoro::waitFor(attemptsOf(kompoz::retry(flaky, 5, 1ms))), 3);
}

QTEST_GUILESS_MAIN(tst_Coroutines)
#include "tst_coroutines.moc"
