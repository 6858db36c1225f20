// SPDX-License-Identifier: MIT
// AsyncCombinator<T>: leaves (asyncRule / asyncPipe), composition (&, |, ~, >>, ifElse,
// parallelAnd, parallelOr), repr, long chains, context-object leaves and the callback path.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QSignalSpy>
#include <QThread>
#include <QtTest/QtTest>

#include <atomic>
#include <stdexcept>
#include <type_traits>

using namespace std::chrono_literals;
using kompoz::AsyncCombinator;
using kompoz::Result;
using kompoztest::Tasks;

using IntRule = AsyncCombinator<int>;
Q_DECLARE_METATYPE(IntRule)

// Handles are cheap values: copyable, movable, and structured bindings work on Result.
static_assert(std::is_copy_constructible_v<IntRule>);
static_assert(std::is_nothrow_move_constructible_v<IntRule>);
static_assert(std::is_aggregate_v<Result<int>>);

namespace {

IntRule constRule(bool verdict, const QString &name, std::atomic<int> *calls = nullptr)
{
    return kompoz::asyncRule<int>(
            [verdict, calls](int) {
                if (calls)
                    ++*calls;
                return verdict;
            },
            name);
}

Result<int> resultOf(QFuture<Result<int>> f)
{
    if (!kompoztest::waitFor(f))
        throw std::runtime_error("future did not finish");
    return f.result();
}

} // namespace

class tst_AsyncCombinator : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void ruleWithPlainValue_data();
    void ruleWithPlainValue();
    void ruleWithFuture();
    void ruleWithPendingFuture();
    void ruleExceptionReachesCaller_data();
    void ruleExceptionReachesCaller();
    void pipeTransforms_data();
    void pipeTransforms();
    void pipeExceptionIsFailure_data();
    void pipeExceptionIsFailure();
    void structuredBindings();
    void operators_data();
    void operators();
    void contextThreadsThroughChain();
    void exceptionEndsChain();
    void ifElse_data();
    void ifElse();
    void parallelAndAllOk_data();
    void parallelAndAllOk();
    void parallelAndFailFast();
    void parallelAndWithoutFailFastWaitsForAll();
    void parallelAndException_data();
    void parallelAndException();
    void parallelOrCancelOnSuccess();
    void parallelOrWithoutCancelWaitsForAll();
    void parallelOrExceptionIsFailure();
    void parallelAcceptsAnyHandle();
    void parallelEmptyListThrows();
    void emptyHandleThrows();
    void repr_data();
    void repr();
    void longChain_data();
    void longChain();
    void contextLeafRunsInContextThread();
    void contextDeletedBeforeRun();
    void contextDeletedWhileQueued();
    void callbackPathCompletion();
    void callbackPathResult();
    void callbackPathError();
    void callbackPathCanceled();
    void callbackPathDeadReceiver();
    void handleDroppedWhileInFlight();
    void runsDoNotLeak();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_AsyncCombinator::ruleWithPlainValue_data()
{
    QTest::addColumn<int>("input");
    QTest::addColumn<bool>("expected");
    QTest::newRow("passes") << 5 << true;
    QTest::newRow("fails") << -5 << false;
}

void tst_AsyncCombinator::ruleWithPlainValue()
{
    QFETCH(int, input);
    QFETCH(bool, expected);
    auto positive = kompoz::asyncRule<int>([](int x) { return x > 0; });
    QFuture<Result<int>> f = positive.run(input);
    QVERIFY(f.isFinished()); // plain values are already done: a ready future
    const Result<int> r = f.result();
    QCOMPARE(r.ok, expected);
    QCOMPARE(r.ctx, input);
}

void tst_AsyncCombinator::ruleWithFuture()
{
    auto positive = kompoz::asyncRule<int>([](int x) { return kompoztest::ready(x > 0); });
    QCOMPARE(resultOf(positive.run(3)).ok, true);
    QCOMPARE(resultOf(positive.run(-3)).ok, false);
}

void tst_AsyncCombinator::ruleWithPendingFuture()
{
    Tasks<bool> tasks;
    auto rule = kompoz::asyncRule<int>(tasks.fn());
    QFuture<Result<int>> f = rule.run(7);
    QCOMPARE(tasks.started(), 1);
    QCOMPARE(tasks.arg(0), 7);
    QVERIFY(!f.isFinished());
    tasks.finish(0, true);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(f.result().ok, true);
    QCOMPARE(f.result().ctx, 7);
}

void tst_AsyncCombinator::ruleExceptionReachesCaller_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("thrown by the function") << 0;
    QTest::newRow("held by a finished future") << 1;
    QTest::newRow("held by a pending future") << 2;
}

void tst_AsyncCombinator::ruleExceptionReachesCaller()
{
    QFETCH(int, mode);
    Tasks<bool> tasks;
    auto rule = kompoz::asyncRule<int>([&](int) -> QFuture<bool> {
        if (mode == 0)
            throw std::runtime_error("boom from fn");
        if (mode == 1)
            return kompoztest::failed<bool>(
                    std::make_exception_ptr(std::runtime_error("boom from fn")));
        return tasks.start();
    });
    QFuture<Result<int>> f = rule.run(1);
    if (mode == 2)
        tasks.fail(0, std::runtime_error("boom from fn"));
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("boom from fn"));
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, f.result());
}

void tst_AsyncCombinator::pipeTransforms_data()
{
    QTest::addColumn<bool>("viaFuture");
    QTest::newRow("plain value") << false;
    QTest::newRow("QFuture") << true;
}

void tst_AsyncCombinator::pipeTransforms()
{
    QFETCH(bool, viaFuture);
    IntRule twice = viaFuture
            ? kompoz::asyncPipe<int>([](int x) { return kompoztest::ready(x * 2); })
            : kompoz::asyncPipe<int>([](int x) { return x * 2; });
    const Result<int> r = resultOf(twice.run(21));
    QCOMPARE(r.ok, true);
    QCOMPARE(r.ctx, 42);
}

void tst_AsyncCombinator::pipeExceptionIsFailure_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("thrown by the function") << 0;
    QTest::newRow("held by a finished future") << 1;
    QTest::newRow("held by a pending future") << 2;
}

void tst_AsyncCombinator::pipeExceptionIsFailure()
{
    QFETCH(int, mode);
    Tasks<int> tasks;
    auto pipe = kompoz::asyncPipe<int>([&](int) -> QFuture<int> {
        if (mode == 0)
            throw std::runtime_error("pipe boom");
        if (mode == 1)
            return kompoztest::failed<int>(std::make_exception_ptr(std::runtime_error("x")));
        return tasks.start();
    });
    QFuture<Result<int>> f = pipe.run(9);
    if (mode == 2)
        tasks.fail(0, std::runtime_error("pipe boom"));
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QString()); // no exception: {false, ctx}
    QCOMPARE(f.result().ok, false);
    QCOMPARE(f.result().ctx, 9);
}

void tst_AsyncCombinator::structuredBindings()
{
    auto inc = kompoz::asyncPipe<int>([](int x) { return x + 1; });
    auto [ok, out] = inc.run(1).result();
    QVERIFY(ok);
    QCOMPARE(out, 2);
}

void tst_AsyncCombinator::operators_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<bool>("a");
    QTest::addColumn<bool>("b");
    QTest::addColumn<bool>("expected");
    QTest::addColumn<bool>("bRuns");
    QTest::newRow("T & T") << "&" << true << true << true << true;
    QTest::newRow("T & F") << "&" << true << false << false << true;
    QTest::newRow("F & T: b skipped") << "&" << false << true << false << false;
    QTest::newRow("T | F: b skipped") << "|" << true << false << true << false;
    QTest::newRow("F | T") << "|" << false << true << true << true;
    QTest::newRow("F | F") << "|" << false << false << false << true;
    QTest::newRow("F >> T: b's verdict") << ">>" << false << true << true << true;
    QTest::newRow("T >> F: b's verdict") << ">>" << true << false << false << true;
    QTest::newRow("~T") << "~" << true << false << false << false;
    QTest::newRow("~F") << "~" << false << false << true << false;
}

void tst_AsyncCombinator::operators()
{
    QFETCH(QString, op);
    QFETCH(bool, a);
    QFETCH(bool, b);
    QFETCH(bool, expected);
    QFETCH(bool, bRuns);
    for (bool pending : {false, true}) {
        std::atomic<int> aCalls {0}, bCalls {0};
        Tasks<bool> tasks;
        auto leaf = [&](bool verdict, std::atomic<int> *calls) {
            return kompoz::asyncRule<int>([&tasks, verdict, calls, pending](int) {
                ++*calls;
                if (!pending)
                    return kompoztest::ready(verdict);
                QFuture<bool> f = tasks.start(verdict ? 1 : 0);
                return f;
            });
        };
        IntRule ra = leaf(a, &aCalls), rb = leaf(b, &bCalls);
        IntRule c = op == QLatin1String("&") ? (ra & rb)
                : op == QLatin1String("|")   ? (ra | rb)
                : op == QLatin1String(">>")  ? (ra >> rb)
                                             : ~ra;
        QFuture<Result<int>> f = c.run(11);
        for (int i = 0; pending && !f.isFinished(); ++i) {
            QVERIFY(tasks.waitForStarted(i + 1));
            tasks.finish(i, tasks.arg(i) == 1);
        }
        const Result<int> r = resultOf(f);
        QCOMPARE(r.ok, expected);
        QCOMPARE(r.ctx, 11);
        QCOMPARE(aCalls.load(), 1);
        QCOMPARE(bCalls.load(), bRuns ? 1 : 0);
    }
}

void tst_AsyncCombinator::contextThreadsThroughChain()
{
    auto add1 = kompoz::asyncPipe<int>([](int x) { return x + 1; });
    auto times10 = kompoz::asyncPipe<int>([](int x) { return kompoztest::ready(x * 10); });
    QList<int> seen;
    auto record = kompoz::asyncRule<int>([&seen](int x) {
        seen.append(x);
        return false;
    });
    // & and >> thread the output context; | gives b a's output too.
    QCOMPARE(resultOf((add1 & times10 & record).run(1)).ctx, 20);
    QCOMPARE(resultOf((add1 >> record >> times10).run(1)).ctx, 20);
    QCOMPARE(resultOf((record | add1).run(5)).ctx, 6);
    QCOMPARE(seen, (QList<int> {20, 2, 5}));
}

void tst_AsyncCombinator::exceptionEndsChain()
{
    std::atomic<int> after {0};
    auto thrower = kompoz::asyncRule<int>([](int) -> bool { throw std::logic_error("stop"); });
    auto c = constRule(true, QStringLiteral("a")) & thrower & constRule(true, {}, &after);
    QFuture<Result<int>> f = c.run(1);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("stop"));
    QCOMPARE(after.load(), 0);
    // | does not swallow it either: the exception reaches the caller.
    QFuture<Result<int>> g = (thrower | constRule(true, {}, &after)).run(1);
    QVERIFY(kompoztest::waitFor(g));
    QCOMPARE(kompoztest::exceptionMessage(g), QStringLiteral("stop"));
    QCOMPARE(after.load(), 0);
}

void tst_AsyncCombinator::ifElse_data()
{
    QTest::addColumn<bool>("condition");
    QTest::addColumn<bool>("viaFreeFunction");
    QTest::newRow("then, member") << true << false;
    QTest::newRow("else, member") << false << false;
    QTest::newRow("then, asyncIfThenElse") << true << true;
    QTest::newRow("else, asyncIfThenElse") << false << true;
}

void tst_AsyncCombinator::ifElse()
{
    QFETCH(bool, condition);
    QFETCH(bool, viaFreeFunction);
    // The condition is a pipe+rule: the branches get its output context.
    auto cond = kompoz::asyncPipe<int>([](int x) { return x + 100; }) &
            kompoz::asyncRule<int>([condition](int) { return condition; });
    int thenSaw = -1, elseSaw = -1;
    auto thenBranch = kompoz::asyncRule<int>([&](int x) {
        thenSaw = x;
        return true;
    });
    auto elseBranch = kompoz::asyncRule<int>([&](int x) {
        elseSaw = x;
        return false;
    });
    IntRule c = viaFreeFunction ? kompoz::asyncIfThenElse(cond, thenBranch, elseBranch)
                                : cond.ifElse(thenBranch, elseBranch);
    const Result<int> r = resultOf(c.run(1));
    QCOMPARE(r.ok, condition);
    QCOMPARE(thenSaw, condition ? 101 : -1);
    QCOMPARE(elseSaw, condition ? -1 : 101);
}

void tst_AsyncCombinator::parallelAndAllOk_data()
{
    QTest::addColumn<QList<bool>>("verdicts");
    QTest::addColumn<bool>("expected");
    QTest::newRow("all pass") << QList<bool> {true, true, true} << true;
    QTest::newRow("one fails") << QList<bool> {true, false, true} << false;
    QTest::newRow("single") << QList<bool> {true} << true;
}

void tst_AsyncCombinator::parallelAndAllOk()
{
    QFETCH(QList<bool>, verdicts);
    QFETCH(bool, expected);
    Tasks<bool> tasks;
    QList<IntRule> children;
    for (int i = 0; i < verdicts.size(); ++i)
        children.append(kompoz::asyncRule<int>(tasks.fn()));
    QFuture<Result<int>> f = kompoz::parallelAnd(children).run(4);
    QCOMPARE(tasks.started(), verdicts.size()); // all at once, before any finished
    for (int i = 0; i < verdicts.size(); ++i) {
        QCOMPARE(tasks.arg(i), 4); // the same context
        tasks.finish(i, verdicts.at(i));
    }
    const Result<int> r = resultOf(f);
    QCOMPARE(r.ok, expected);
    QCOMPARE(r.ctx, 4);
    QCOMPARE(tasks.canceled(), 0);
}

void tst_AsyncCombinator::parallelAndFailFast()
{
    Tasks<bool> tasks;
    auto child = kompoz::asyncRule<int>(tasks.fn());
    QFuture<Result<int>> f = kompoz::parallelAnd({child, child, child}, true).run(1);
    QCOMPARE(tasks.started(), 3);
    tasks.finish(1, false);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(f.result().ok, false);
    QVERIFY(tasks.isCanceled(0));
    QVERIFY(tasks.isCanceled(2));
}

void tst_AsyncCombinator::parallelAndWithoutFailFastWaitsForAll()
{
    Tasks<bool> tasks;
    auto child = kompoz::asyncRule<int>(tasks.fn());
    QFuture<Result<int>> f = kompoz::parallelAnd({child, child, child}, false).run(1);
    tasks.finish(1, false);
    QVERIFY(!f.isFinished());
    QCOMPARE(tasks.canceled(), 0);
    tasks.finish(0, true);
    QVERIFY(!f.isFinished());
    tasks.finish(2, true);
    QCOMPARE(resultOf(f).ok, false);
    QCOMPARE(tasks.canceled(), 0);
}

void tst_AsyncCombinator::parallelAndException_data()
{
    QTest::addColumn<bool>("failFast");
    QTest::newRow("failFast") << true;
    QTest::newRow("no failFast") << false;
}

void tst_AsyncCombinator::parallelAndException()
{
    QFETCH(bool, failFast);
    Tasks<bool> tasks;
    auto child = kompoz::asyncRule<int>(tasks.fn());
    QFuture<Result<int>> f = kompoz::parallelAnd({child, child, child}, failFast).run(1);
    tasks.fail(0, std::runtime_error("child failed hard"));
    if (failFast) {
        QVERIFY(kompoztest::waitFor(f));
        QVERIFY(tasks.isCanceled(1));
        QVERIFY(tasks.isCanceled(2));
    } else {
        QVERIFY(!f.isFinished());
        tasks.finish(1, true);
        tasks.finish(2, true);
        QVERIFY(kompoztest::waitFor(f));
    }
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("child failed hard"));
}

void tst_AsyncCombinator::parallelOrCancelOnSuccess()
{
    Tasks<bool> tasks;
    auto child = kompoz::asyncRule<int>(tasks.fn());
    // cancelOnSuccess is the default
    QFuture<Result<int>> f = kompoz::parallelOr({child, child, child}).run(3);
    QCOMPARE(tasks.started(), 3);
    tasks.finish(0, false);
    QVERIFY(!f.isFinished());
    tasks.finish(2, true);
    const Result<int> r = resultOf(f);
    QCOMPARE(r.ok, true);
    QCOMPARE(r.ctx, 3);
    QVERIFY(tasks.isCanceled(1));
}

void tst_AsyncCombinator::parallelOrWithoutCancelWaitsForAll()
{
    Tasks<bool> tasks;
    auto child = kompoz::asyncRule<int>(tasks.fn());
    QFuture<Result<int>> f = kompoz::parallelOr({child, child}, false).run(3);
    tasks.finish(0, true);
    QVERIFY(!f.isFinished());
    QVERIFY(!tasks.isCanceled(1));
    tasks.finish(1, false);
    QCOMPARE(resultOf(f).ok, true);

    QFuture<Result<int>> g = kompoz::parallelOr({child, child}, false).run(3);
    tasks.finish(2, false);
    tasks.finish(3, false);
    QCOMPARE(resultOf(g).ok, false);
}

void tst_AsyncCombinator::parallelOrExceptionIsFailure()
{
    auto thrower = kompoz::asyncRule<int>([](int) -> bool { throw std::runtime_error("x"); });
    auto yes = constRule(true, {});
    auto no = constRule(false, {});
    QFuture<Result<int>> f = kompoz::parallelOr({thrower, yes}).run(1);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QString());
    QCOMPARE(f.result().ok, true);
    QFuture<Result<int>> g = kompoz::parallelOr({thrower, no}).run(1);
    QVERIFY(kompoztest::waitFor(g));
    QCOMPARE(kompoztest::exceptionMessage(g), QString());
    QCOMPARE(g.result().ok, false);
}

void tst_AsyncCombinator::parallelAcceptsAnyHandle()
{
    auto rule = constRule(true, QStringLiteral("r"));
    kompoz::AsyncTimeout<int> timed = kompoz::withTimeout(rule, 5s);
    kompoz::AsyncLimited<int> lim = kompoz::limited(rule, 2);
    kompoz::AsyncCircuitBreaker<int> cb = kompoz::circuitBreaker(rule);
    QCOMPARE(resultOf(kompoz::parallelAnd<int>({timed, lim, cb, rule}).run(1)).ok, true);
    QCOMPARE(resultOf(kompoz::parallelOr<int>({timed, lim, cb}).run(1)).ok, true);
    // T deduced from a braced list of mixed handles, as the contract writes it.
    QCOMPARE(resultOf(kompoz::parallelAnd({timed, lim, cb}).run(1)).ok, true);
    QCOMPARE(resultOf(kompoz::parallelOr({timed, lim, cb}, false).run(1)).ok, true);
}

void tst_AsyncCombinator::parallelEmptyListThrows()
{
    QVERIFY(kompoztest::invalidArgumentMessage([] {
                kompoz::parallelAnd(QList<IntRule>());
            }).contains(QLatin1String("at least one")));
    QVERIFY(kompoztest::invalidArgumentMessage([] {
                kompoz::parallelOr(QList<IntRule>());
            }).contains(QLatin1String("at least one")));
}

void tst_AsyncCombinator::emptyHandleThrows()
{
    const IntRule empty;
    const IntRule rule = constRule(true, {});
    QVERIFY(!kompoztest::invalidArgumentMessage([&] { return empty & rule; }).isEmpty());
    QVERIFY(!kompoztest::invalidArgumentMessage([&] { return rule | empty; }).isEmpty());
    QVERIFY(!kompoztest::invalidArgumentMessage([&] { return ~empty; }).isEmpty());
    QVERIFY(!kompoztest::invalidArgumentMessage([&] { return empty.run(1); }).isEmpty());
    QVERIFY(kompoztest::invalidArgumentMessage([&] {
                return kompoz::withTimeout(empty, 1s);
            }).contains(QLatin1String("inner")));
    QVERIFY(kompoztest::invalidArgumentMessage([&] {
                return kompoz::limited(empty, 1);
            }).contains(QLatin1String("inner")));
    QVERIFY(kompoztest::invalidArgumentMessage([&] {
                return kompoz::circuitBreaker(empty);
            }).contains(QLatin1String("inner")));
}

void tst_AsyncCombinator::repr_data()
{
    const IntRule a = constRule(true, QStringLiteral("a"));
    const IntRule b = constRule(true, QStringLiteral("b"));
    const IntRule c = constRule(true, QStringLiteral("c"));
    QTest::addColumn<IntRule>("combinator");
    QTest::addColumn<QString>("expected");
    QTest::newRow("rule") << a << "AsyncPredicate(a)";
    QTest::newRow("unnamed rule") << constRule(true, {}) << "AsyncPredicate(<function>)";
    QTest::newRow("pipe") << kompoz::asyncPipe<int>([](int x) { return x; }, QStringLiteral("p"))
                          << "AsyncTransform(p)";
    QTest::newRow("&") << (a & b) << "(AsyncPredicate(a) & AsyncPredicate(b))";
    QTest::newRow("|") << (a | b) << "(AsyncPredicate(a) | AsyncPredicate(b))";
    QTest::newRow(">>") << (a >> b) << "(AsyncPredicate(a) >> AsyncPredicate(b))";
    QTest::newRow("~") << ~a << "~AsyncPredicate(a)";
    QTest::newRow("nested") << (~(a & b) | c)
                            << "(~(AsyncPredicate(a) & AsyncPredicate(b)) | AsyncPredicate(c))";
    QTest::newRow("ifElse") << a.ifElse(b, c)
                            << "AsyncIfThenElse(AsyncPredicate(a), AsyncPredicate(b), "
                               "AsyncPredicate(c))";
    QTest::newRow("parallelAnd")
            << kompoz::parallelAnd({a, b}, true)
            << "ParallelAnd([AsyncPredicate(a), AsyncPredicate(b)], fail_fast=True)";
    QTest::newRow("parallelOr")
            << kompoz::parallelOr({a, b})
            << "ParallelOr([AsyncPredicate(a), AsyncPredicate(b)], cancel_on_success=True)";
    QTest::newRow("timeout 5 s") << IntRule(kompoz::withTimeout(a, 5s))
                                 << "AsyncTimeout(AsyncPredicate(a), timeout=5.0)";
    QTest::newRow("timeout 1500 ms") << IntRule(kompoz::withTimeout(a, 1500ms))
                                     << "AsyncTimeout(AsyncPredicate(a), timeout=1.5)";
    QTest::newRow("limited") << IntRule(kompoz::limited(a, 3))
                             << "AsyncLimited(AsyncPredicate(a), max_concurrent=3)";
    QTest::newRow("breaker") << IntRule(kompoz::circuitBreaker(a, 4, 2s, 1))
                             << "AsyncCircuitBreaker(AsyncPredicate(a), failure_threshold=4, "
                                "recovery_timeout=2.0, half_open_max_calls=1)";
    QTest::newRow("null") << IntRule() << "AsyncCombinator(null)";
}

void tst_AsyncCombinator::repr()
{
    QFETCH(IntRule, combinator);
    QFETCH(QString, expected);
    QCOMPARE(combinator.repr(), expected);
}

void tst_AsyncCombinator::longChain_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<bool>("pending");
    QTest::addColumn<bool>("leftDeep");
    for (const char *op : {"&", "|", ">>"}) {
        for (bool pending : {false, true}) {
            for (bool leftDeep : {true, false}) {
                QTest::addRow("%s %s %s", op, pending ? "pending" : "finished",
                              leftDeep ? "left-deep" : "right-deep")
                        << QString::fromLatin1(op) << pending << leftDeep;
            }
        }
    }
}

void tst_AsyncCombinator::longChain()
{
    QFETCH(QString, op);
    QFETCH(bool, pending);
    QFETCH(bool, leftDeep);
    constexpr int N = 10000;
    // & runs every leaf when all pass, | when all fail, >> always.
    const bool verdict = op != QLatin1String("|");
    Tasks<bool> tasks;
    std::atomic<int> calls {0};
    auto leaf = kompoz::asyncRule<int>([&](int) {
        ++calls;
        return pending ? tasks.start() : kompoztest::ready(verdict);
    });
    IntRule chain = leaf;
    for (int i = 1; i < N; ++i) {
        const IntRule l = leftDeep ? chain : leaf;
        const IntRule r = leftDeep ? leaf : chain;
        chain = op == QLatin1String("&") ? (l & r) : op == QLatin1String("|") ? (l | r) : (l >> r);
    }
    QFuture<Result<int>> f = chain.run(1);
    for (int i = 0; pending && i < N; ++i) {
        QCOMPARE(tasks.started(), i + 1); // one at a time, left to right
        tasks.finish(i, verdict);
    }
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(f.result().ok, verdict);
    QCOMPARE(calls.load(), N);
    QVERIFY(chain.repr().startsWith(QLatin1Char('(')));
}

void tst_AsyncCombinator::contextLeafRunsInContextThread()
{
    QThread worker;
    kompoztest::startThread(worker);
    QObject context;
    context.moveToThread(&worker);
    std::atomic<QThread *> ruleThread {nullptr}, pipeThread {nullptr};
    auto rule = kompoz::asyncRule<int>(&context, [&](int x) {
        ruleThread = QThread::currentThread();
        return x > 0;
    });
    auto pipe = kompoz::asyncPipe<int>(&context, [&](int x) {
        pipeThread = QThread::currentThread();
        return kompoztest::ready(x + 1);
    });
    QFuture<Result<int>> f = (pipe & rule).run(1);
    const Result<int> r = resultOf(f);
    QCOMPARE(r.ok, true);
    QCOMPARE(r.ctx, 2);
    QCOMPARE(ruleThread.load(), &worker);
    QCOMPARE(pipeThread.load(), &worker);
    // A blocking wait on the main thread works too: the context's thread runs the rule.
    QFuture<Result<int>> g = rule.run(-1);
    g.waitForFinished();
    QCOMPARE(g.result().ok, false);
    QVERIFY(kompoztest::stopThread(worker));
}

void tst_AsyncCombinator::contextDeletedBeforeRun()
{
    std::atomic<int> calls {0};
    auto *context = new QObject;
    auto rule = kompoz::asyncRule<int>(context, [&](int) {
        ++calls;
        return true;
    });
    delete context;
    QFuture<Result<int>> f = rule.run(1);
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(f.isCanceled());
    QCOMPARE(f.resultCount(), 0);
    QCOMPARE(calls.load(), 0);
}

void tst_AsyncCombinator::contextDeletedWhileQueued()
{
    // The context lives in a thread that is not running yet: the call is posted and waits.
    QThread notRunning;
    auto *context = new QObject;
    context->moveToThread(&notRunning);
    std::atomic<int> calls {0};
    auto rule = kompoz::asyncRule<int>(context, [&](int) {
        ++calls;
        return true;
    });
    QFuture<Result<int>> f = rule.run(1);
    QVERIFY(!f.isFinished());
    delete context; // allowed: its thread is not running. Drops the posted call.
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(f.isCanceled());
    QCOMPARE(f.resultCount(), 0);
    QCOMPARE(calls.load(), 0);
}

void tst_AsyncCombinator::callbackPathCompletion()
{
    Tasks<bool> tasks;
    auto rule = kompoz::asyncRule<int>(tasks.fn());
    QThread worker;
    kompoztest::startThread(worker);
    QObject finisher;
    finisher.moveToThread(&worker);
    std::atomic<QThread *> calledIn {nullptr};
    std::atomic<int> calls {0};
    kompoz::Completion<int> got {{false, 0}, kompoz::Outcome::Canceled, nullptr};
    kompoz::RunHandle h = rule.run(5, this, [&](kompoz::Completion<int> c) {
        calledIn = QThread::currentThread();
        got = c;
        ++calls;
    });
    QVERIFY(h.isPending());
    // Finish from another thread: the callback still runs in the context's (this) thread.
    kompoztest::runIn(&finisher, [&] { tasks.finish(0, true); });
    QTRY_COMPARE(calls.load(), 1);
    QCOMPARE(calledIn.load(), thread());
    QCOMPARE_ENUM(got.outcome, kompoz::Outcome::Success);
    QVERIFY(got.hasResult());
    QCOMPARE(got.result.ok, true);
    QCOMPARE(got.result.ctx, 5);
    QVERIFY(kompoztest::stopThread(worker));

    // Already finished: called at once, in this thread, and the handle is empty.
    calls = 0;
    kompoz::RunHandle done = constRule(false, {}).run(6, this,
                                                      [&](const kompoz::Completion<int> &c) {
                                                          got = c;
                                                          ++calls;
                                                      });
    QCOMPARE(calls.load(), 1);
    QVERIFY(!done.isPending());
    QCOMPARE_ENUM(got.outcome, kompoz::Outcome::Failure);
    QCOMPARE(got.result.ctx, 6);
}

void tst_AsyncCombinator::callbackPathResult()
{
    Tasks<bool> tasks;
    auto rule = kompoz::asyncRule<int>(tasks.fn());
    std::atomic<int> calls {0};
    Result<int> got {false, 0};
    kompoz::RunHandle h = rule.run(8, [&](Result<int> r) {
        got = r;
        ++calls;
    });
    QVERIFY(h.isPending());
    QCOMPARE(calls.load(), 0);
    tasks.finish(0, true);
    QCOMPARE(calls.load(), 1); // no context: called where the run ended
    QCOMPARE(got.ok, true);
    QCOMPARE(got.ctx, 8);
}

void tst_AsyncCombinator::callbackPathError()
{
    auto thrower = kompoz::asyncRule<int>([](int) -> bool { throw std::runtime_error("cb"); });
    kompoz::Completion<int> got {{true, 0}, kompoz::Outcome::Success, nullptr};
    thrower.run(3, [&](kompoz::Completion<int> c) { got = c; });
    QCOMPARE_ENUM(got.outcome, kompoz::Outcome::Error);
    QVERIFY(!got.hasResult());
    QVERIFY(got.error);
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, std::rethrow_exception(got.error));
    QCOMPARE(got.result.ok, false);
    QCOMPARE(got.result.ctx, 3);

    // A callback that takes Result<T> gets {false, ctx} and the error is logged.
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("the run threw")));
    Result<int> r {true, 0};
    thrower.run(4, [&](Result<int> res) { r = res; });
    QCOMPARE(r.ok, false);
    QCOMPARE(r.ctx, 4);
}

void tst_AsyncCombinator::callbackPathCanceled()
{
    Tasks<bool> tasks;
    auto rule = kompoz::asyncRule<int>(tasks.fn());
    std::atomic<int> calls {0};
    kompoz::Completion<int> got {{true, 0}, kompoz::Outcome::Success, nullptr};
    kompoz::RunHandle h = rule.run(2, this, [&](kompoz::Completion<int> c) {
        got = c;
        ++calls;
    });
    QVERIFY(h.isPending());
    h.cancel();
    QVERIFY(tasks.isCanceled(0));
    QTRY_COMPARE(calls.load(), 1);
    QCOMPARE_ENUM(got.outcome, kompoz::Outcome::Canceled);
    QCOMPARE(got.result.ctx, 2);
    h.cancel(); // twice is harmless
    QCOMPARE(calls.load(), 1);

    // A Result<T> callback is not called for a cancelled run.
    std::atomic<int> resultCalls {0};
    kompoz::RunHandle h2 = rule.run(3, [&](Result<int>) { ++resultCalls; });
    h2.cancel();
    QVERIFY(tasks.isCanceled(1));
    QCoreApplication::processEvents();
    QCOMPARE(resultCalls.load(), 0);
}

void tst_AsyncCombinator::callbackPathDeadReceiver()
{
    Tasks<bool> tasks;
    auto rule = kompoz::asyncRule<int>(tasks.fn());
    std::atomic<int> calls {0};
    auto *receiver = new QObject;
    rule.run(1, receiver, [&](Result<int>) { ++calls; });
    delete receiver;
    tasks.finish(0, true);
    QCoreApplication::processEvents();
    QCOMPARE(calls.load(), 0);
    QVERIFY(!kompoztest::invalidArgumentMessage([&] {
                 return rule.run(1, static_cast<QObject *>(nullptr), [](Result<int>) {});
             }).isEmpty());
}

void tst_AsyncCombinator::handleDroppedWhileInFlight()
{
    Tasks<bool> tasks;
    QFuture<Result<int>> f;
    QFuture<Result<int>> g;
    std::atomic<int> calls {0};
    {
        auto rule = kompoz::asyncRule<int>(tasks.fn(), QStringLiteral("t"));
        auto guarded = kompoz::circuitBreaker(
                kompoz::withTimeout(kompoz::limited(rule & rule, 1), 30s), 3);
        f = guarded.run(1);
        g = guarded.run(2); // queued in the limiter
        kompoz::RunHandle h = (rule | rule).run(3, [&](Result<int> r) { calls += r.ok ? 1 : 0; });
        QVERIFY(h.isPending());
    } // every handle is gone; the runs are not
    QCOMPARE(tasks.started(), 2);
    tasks.finish(0, true); // f's first leaf
    tasks.finish(1, false); // (rule | rule): first fails, second starts
    QVERIFY(tasks.waitForStarted(4));
    for (int i = 2; i < 6; ++i) {
        QVERIFY(tasks.waitForStarted(i + 1));
        tasks.finish(i, true);
        if (f.isFinished() && g.isFinished() && calls.load() == 1)
            break;
    }
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(kompoztest::waitFor(g));
    QCOMPARE(f.result().ok, true);
    QCOMPARE(f.result().ctx, 1);
    QCOMPARE(g.result().ctx, 2);
    QCOMPARE(calls.load(), 1);
}

void tst_AsyncCombinator::runsDoNotLeak()
{
    using C = kompoztest::Counted;
    const int before = C::live();
    {
        Tasks<bool, C> tasks;
        auto pending = kompoz::asyncRule<C>(tasks.fn());
        auto yes = kompoz::asyncRule<C>([](const C &) { return true; });
        auto inc = kompoz::asyncPipe<C>([](const C &c) { return C(c.value + 1); });
        auto thrower = kompoz::asyncRule<C>(
                [](const C &) -> bool { throw std::runtime_error("x"); });
        auto all = kompoz::circuitBreaker(
                kompoz::withTimeout(kompoz::limited((inc & yes) >> pending, 2), 30s), 1000);
        QList<QFuture<Result<C>>> futures;
        for (int i = 0; i < 20; ++i)
            futures.append(all.run(C(i)));
        futures.append(kompoz::parallelAnd({yes, pending, thrower}, true).run(C(1)));
        futures.append(kompoz::parallelOr({yes, pending}).run(C(2)));
        futures.append((thrower | yes).run(C(3)));
        futures[1].cancel(); // one cancelled by the caller
        QVERIFY(kompoztest::waitFor(futures[1]));
        // Finish whatever starts until every run is done.
        int next = 0;
        QVERIFY(kompoztest::waitUntil([&] {
            while (next < tasks.started()) {
                if (!tasks.isCanceled(next))
                    tasks.finish(next, true);
                ++next;
            }
            for (const auto &f : futures) {
                if (!f.isFinished())
                    return false;
            }
            return true;
        }));
        QCOMPARE(futures[0].result().ctx.value, 1);
    }
    // Frames, awaits and the timer service's references are gone once everything settled.
    QTRY_COMPARE(C::live(), before);
}

QTEST_GUILESS_MAIN(tst_AsyncCombinator)
#include "tst_asynccombinator.moc"
