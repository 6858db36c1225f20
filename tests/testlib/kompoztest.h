// SPDX-License-Identifier: MIT
#pragma once

//! \file kompoztest.h
//! Header-only helpers for the Kompoz test suite: a per-test watchdog, controllable tasks,
//! an instance counter for leak checks, and waiting for a future without blocking the event
//! loop.

#include <kompoz/runtime.h>

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QFuture>
#include <QList>
#include <QMutex>
#include <QPromise>
#include <QThread>
#include <QtTest/QTest>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

//! QCOMPARE for CircuitState and Outcome. QTest finds its toString() hook by ADL, and
//! kompoz::toString(CircuitState) returns a QString, so QCOMPARE on the enums does not compile;
//! compare their names instead (which also reads well in a failure).
#define QCOMPARE_ENUM(actual, expected) \
    QCOMPARE(kompoz::toString(actual), kompoz::toString(expected))

namespace kompoztest {

//! A deadlock must fail the test, not hang CI. Arm in init(), disarm in cleanup(). The
//! watchdog runs in its own std::thread, so it fires even while the main thread is blocked
//! in waitForFinished() (a QTimer in the main thread would not).
class Watchdog
{
public:
    Watchdog() : m_thread([this] { loop(); }) { }
    ~Watchdog()
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_quit = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;

    void arm(std::chrono::seconds limit = std::chrono::seconds(30))
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            const char *fn = QTest::currentTestFunction();
            const char *tag = QTest::currentDataTag();
            m_name = std::string(fn ? fn : "?") + (tag ? std::string("(") + tag + ")" : "");
            m_deadline = std::chrono::steady_clock::now() + limit;
            m_armed = true;
        }
        m_cv.notify_all();
    }
    void disarm()
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_armed = false;
        }
        m_cv.notify_all();
    }

private:
    void loop()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        while (!m_quit) {
            if (!m_armed) {
                m_cv.wait(lock);
                continue;
            }
            if (m_cv.wait_until(lock, m_deadline) == std::cv_status::timeout && m_armed &&
                std::chrono::steady_clock::now() >= m_deadline) {
                std::fprintf(stderr, "FAIL! watchdog: %s did not finish in time (deadlock?)\n",
                             m_name.c_str());
                std::fflush(stderr);
                std::_Exit(3);
            }
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_quit = false;
    bool m_armed = false;
    std::string m_name;
    std::chrono::steady_clock::time_point m_deadline;
    std::thread m_thread; // last: starts after the members it reads
};

//! The edge from a run that settled its future in another thread: QtCore hands a stored
//! exception to waitForFinished() under the state's mutex, locked inside QtCore where TSan
//! cannot see it, so the library releases on that mutex's address when it settles the future
//! (FutureRoot::deliver). Call once `f` is finished, before reading what it holds.
template<typename X>
void acquireSettled(const QFuture<X> &f)
{
    [[maybe_unused]] const QFutureInterfaceBase state = QFutureInterfaceBase::get(f);
    KOMPOZ_TSAN_ACQUIRE(&state.mutex());
}

//! Waits for `f` to finish while the calling thread keeps running its event loop (queued
//! signals, deleteLater, flushes of count properties). False on timeout.
template<typename X>
bool waitFor(const QFuture<X> &f, int timeoutMs = 10000)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!f.isFinished()) {
        if (deadline.hasExpired())
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
        QThread::yieldCurrentThread();
    }
    acquireSettled(f);
    return true;
}

//! Waits until `pred()` holds, running the event loop. False on timeout.
template<typename Pred>
bool waitUntil(Pred pred, int timeoutMs = 10000)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!pred()) {
        if (deadline.hasExpired())
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
        QThread::msleep(1);
    }
    return true;
}

// ---- Threads whose hand-overs ThreadSanitizer sees ------------------------------------------
// QtCore is not built with TSan: QThread::start() and wait(), QThreadPool's queue and
// waitForDone(), and a blocking queued call all synchronize through QtCore's own futex, which
// TSan cannot see, so what one thread wrote looks unordered with the other thread's later reads.
// These helpers add the happens-before edges those calls already give (KOMPOZ_TSAN_RELEASE and
// KOMPOZ_TSAN_ACQUIRE, empty without TSan). A thread that needs no event loop is a std::thread:
// TSan sees its join.

//! Starts `t`'s event loop and returns once the thread runs: its event dispatcher exists, so
//! objects can be moved to it and calls posted to it. End it with stopThread().
inline void startThread(QThread &t)
{
    // finished is emitted in `t`, after its event loop returned: the edge stopThread() takes.
    QObject::connect(
            &t, &QThread::finished, &t, [&t] { KOMPOZ_TSAN_RELEASE(&t); }, Qt::DirectConnection);
    std::atomic<bool> running {false};
    const QMetaObject::Connection started = QObject::connect(
            &t, &QThread::started, &t,
            [&running] { running.store(true, std::memory_order_release); }, Qt::DirectConnection);
    t.start();
    while (!running.load(std::memory_order_acquire))
        std::this_thread::yield();
    QObject::disconnect(started);
}

//! Ends the event loop of a thread started with startThread() and waits for it: what the thread
//! did is ordered before the return. False on timeout.
inline bool stopThread(QThread &t, int timeoutMs = 10000)
{
    t.quit();
    if (!t.wait(QDeadlineTimer(timeoutMs)))
        return false;
    KOMPOZ_TSAN_ACQUIRE(&t);
    return true;
}

//! Runs `fn` in `context`'s thread and waits until it returned (a blocking queued call).
template<typename Fn>
void runIn(QObject *context, Fn fn)
{
    [[maybe_unused]] int done = 0; // its address: the edge back to this thread
    QMetaObject::invokeMethod(context, kompoz::detail::queuedCall([&] {
                                  fn();
                                  KOMPOZ_TSAN_RELEASE(&done);
                              }),
                              Qt::BlockingQueuedConnection);
    KOMPOZ_TSAN_ACQUIRE(&done);
}

//! A fixed number of std::threads that run posted jobs in order: work that ends in another
//! thread without an event loop. Tests use this rather than a QThreadPool with several threads:
//! QThreadPool's own bookkeeping (its job queue, its list of idle threads) is guarded by a QMutex
//! inside QtCore, and TSan reports its QList growing or moving in one pool thread after another,
//! in QtCore frames that are not exported, so no suppression can name them. Here TSan sees the
//! hand-over (a std::mutex) and the end (join).
class JobThreads
{
public:
    explicit JobThreads(int threads)
    {
        for (int i = 0; i < threads; ++i)
            m_threads.emplace_back([this] { loop(); });
    }
    ~JobThreads() { join(); }
    JobThreads(const JobThreads &) = delete;
    JobThreads &operator=(const JobThreads &) = delete;

    //! Queues `job`; a job may post more.
    void post(std::function<void()> job)
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_jobs.push_back(std::move(job));
        }
        m_cv.notify_one();
    }
    //! Runs every job posted (also those posted meanwhile by jobs), then ends the threads: what
    //! the jobs did is ordered before the return. Post nothing from other threads after this.
    void join()
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_quit = true;
        }
        m_cv.notify_all();
        for (std::thread &t : m_threads) {
            if (t.joinable())
                t.join();
        }
    }

private:
    void loop()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        for (;;) {
            m_cv.wait(lock, [this] { return m_quit || !m_jobs.empty(); });
            if (m_jobs.empty())
                return; // quit, and nothing left to run
            std::function<void()> job = std::move(m_jobs.front());
            m_jobs.pop_front();
            lock.unlock();
            job();
            job = nullptr; // what it holds goes before join() returns, too
            lock.lock();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<std::function<void()>> m_jobs; // guarded by m_mutex
    bool m_quit = false; // guarded by m_mutex
    std::vector<std::thread> m_threads; // last: started after the members they use
};

//! Ready futures, portably (makeReadyValueFuture is Qt 6.6).
template<typename X>
QFuture<X> ready(X value)
{
    QPromise<X> p;
    p.start();
    p.addResult(std::move(value));
    p.finish();
    return p.future();
}

template<typename X>
QFuture<X> failed(std::exception_ptr e)
{
    QPromise<X> p;
    p.start();
    p.setException(std::move(e));
    p.finish();
    return p.future();
}

//! Hands out QPromise-backed futures and finishes, fails or throws them on demand. Counts
//! starts and cancellations and records the thread and the argument of each start.
//! Thread-safe. Tasks still pending at destruction end as cancelled (QPromise's destructor).
template<typename X, typename Arg = int>
class Tasks
{
public:
    struct Task
    {
        QPromise<X> promise;
        Arg arg;
        QThread *thread = nullptr;
        bool settled = false;
    };

    //! Starts a pending task; use as a rule's or pipe's function.
    QFuture<X> start(const Arg &arg = Arg())
    {
        auto t = std::make_shared<Task>();
        t->arg = arg;
        t->thread = QThread::currentThread();
        t->promise.start();
        QFuture<X> f = t->promise.future();
        QMutexLocker lock(&m_mutex);
        m_tasks.append(t);
        return f;
    }
    //! A function object for asyncRule / asyncPipe.
    std::function<QFuture<X>(const Arg &)> fn()
    {
        return [this](const Arg &a) { return start(a); };
    }

    int started() const
    {
        QMutexLocker lock(&m_mutex);
        return int(m_tasks.size());
    }
    int canceled() const
    {
        QMutexLocker lock(&m_mutex);
        int n = 0;
        for (const auto &t : m_tasks)
            n += t->promise.isCanceled() ? 1 : 0;
        return n;
    }
    bool isCanceled(int i) const { return task(i)->promise.isCanceled(); }
    Arg arg(int i) const { return task(i)->arg; }
    QThread *thread(int i) const { return task(i)->thread; }
    QFuture<X> future(int i) const { return task(i)->promise.future(); }

    void finish(int i, X value)
    {
        auto t = take(i);
        t->promise.addResult(std::move(value));
        t->promise.finish();
    }
    template<typename E>
    void fail(int i, E error)
    {
        auto t = take(i);
        t->promise.setException(std::make_exception_ptr(std::move(error)));
        t->promise.finish();
    }
    //! Finishes without a result, as cooperative work does when it sees isCanceled().
    void giveUp(int i)
    {
        auto t = take(i);
        t->promise.future().cancel();
        t->promise.finish();
    }
    //! Waits (running the event loop) until `n` tasks have started.
    bool waitForStarted(int n, int timeoutMs = 10000) const
    {
        return waitUntil([&] { return started() >= n; }, timeoutMs);
    }

private:
    std::shared_ptr<Task> task(int i) const
    {
        QMutexLocker lock(&m_mutex);
        if (i < 0 || i >= m_tasks.size())
            throw std::out_of_range("Tasks: no such task");
        return m_tasks.at(i);
    }
    std::shared_ptr<Task> take(int i)
    {
        auto t = task(i);
        QMutexLocker lock(&m_mutex);
        if (t->settled)
            throw std::logic_error("Tasks: task settled twice");
        t->settled = true;
        return t;
    }

    mutable QMutex m_mutex;
    QList<std::shared_ptr<Task>> m_tasks;
};

//! Counts live instances: a context type for leak checks (every copy and move is one more).
class Counted
{
public:
    Counted(int v = 0) : value(v) { s_live.fetch_add(1); }
    Counted(const Counted &o) : value(o.value) { s_live.fetch_add(1); }
    Counted(Counted &&o) noexcept : value(o.value) { s_live.fetch_add(1); }
    Counted &operator=(const Counted &) = default;
    Counted &operator=(Counted &&) noexcept = default;
    ~Counted() { s_live.fetch_sub(1); }
    static int live() { return s_live.load(); }

    int value;

private:
    static inline std::atomic<int> s_live {0};
};

//! The message of the std::invalid_argument that `fn` throws, or an empty string when it
//! throws nothing (or something else).
template<typename Fn>
QString invalidArgumentMessage(Fn &&fn)
{
    try {
        fn();
    } catch (const std::invalid_argument &e) {
        return QString::fromUtf8(e.what());
    } catch (...) {
        return QStringLiteral("<another exception>");
    }
    return {};
}

//! The what() of the exception a finished future holds, or an empty string.
template<typename X>
QString exceptionMessage(const QFuture<X> &f)
{
    try {
        QFuture<X>(f).waitForFinished();
    } catch (const std::exception &e) {
        acquireSettled(f); // before the exception object is read
        return QString::fromUtf8(e.what());
    } catch (...) {
        return QStringLiteral("<unknown exception>");
    }
    return {};
}

} // namespace kompoztest
