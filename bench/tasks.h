// SPDX-License-Identifier: MIT
#pragma once

//! \file tasks.h
//! The tasks the workloads call, the same as the peers script's (../shared/peers):
//! - readyTask: returns an already-finished QFuture<bool> (an `async () => true`);
//! - promiseTask: returns a QPromise's future, fulfilled by the caller right after the call;
//! - plainTask: returns a plain bool (the callback path's "already done" leaf);
//! - tickTask (W3): finishes on a later event-loop turn (`await setImmediate`);
//! - sharedTickTask (W4): finishes when one 1 ms timer, started after every call was issued,
//!   fires (`await st.tick.promise`). A QFuture keeps one continuation (qt64-pitfalls #1), so
//!   each call gets its own QPromise and the tick fulfils them all.

#include <QCoreApplication>
#include <QFuture>
#include <QObject>
#include <QPromise>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace bench {

//! What the tasks count (the peers script's `st`), shared by every thread.
struct TaskState
{
    std::atomic<qint64> calls {0};
    std::atomic<int> inFlight {0};
    std::atomic<int> maxInFlight {0};
    std::atomic<bool> fail {false};

    void reset()
    {
        calls = 0;
        inFlight = 0;
        maxInFlight = 0;
        fail = false;
    }
    void enter()
    {
        calls.fetch_add(1, std::memory_order_relaxed);
        const int now = inFlight.fetch_add(1, std::memory_order_relaxed) + 1;
        int seen = maxInFlight.load(std::memory_order_relaxed);
        while (now > seen &&
               !maxInFlight.compare_exchange_weak(seen, now, std::memory_order_relaxed)) { }
    }
    void leave() { inFlight.fetch_sub(1, std::memory_order_relaxed); }
};

inline TaskState &taskState()
{
    static TaskState state;
    return state;
}

inline QFuture<bool> readyFuture(bool value)
{
    QPromise<bool> p;
    p.start();
    p.addResult(value);
    p.finish();
    return p.future();
}

inline QFuture<bool> readyTask(int) { return readyFuture(true); }

[[gnu::noipa]] inline bool plainTask(int) { return true; }

// ---- promiseTask: one pending promise per thread, fulfilled right after the call ------------

inline std::optional<QPromise<bool>> &pendingPromise()
{
    static thread_local std::optional<QPromise<bool>> promise;
    return promise;
}

inline QFuture<bool> promiseTask(int)
{
    auto &p = pendingPromise();
    p.emplace();
    p->start();
    return p->future();
}

inline void fulfilPromise()
{
    auto &p = pendingPromise();
    p->addResult(true);
    p->finish();
    p.reset();
}

// ---- tickTask (W3): done on a later turn of the calling thread's event loop -------------------

//! A QObject living in the current thread, to post to (one per thread, made on first use).
inline QObject *threadTicker()
{
    static thread_local std::unique_ptr<QObject> ticker;
    if (!ticker)
        ticker = std::make_unique<QObject>();
    return ticker.get();
}

inline QFuture<bool> tickTask(int)
{
    taskState().enter();
    auto *p = new QPromise<bool>;
    p->start();
    QFuture<bool> f = p->future();
    QMetaObject::invokeMethod(
            threadTicker(),
            [p] {
                taskState().leave();
                p->addResult(true);
                p->finish();
                delete p;
            },
            Qt::QueuedConnection);
    return f;
}

// ---- sharedTickTask (W4): done when the tick fulfils every pending promise --------------------

inline std::vector<QPromise<bool>> &tickPromises()
{
    static std::vector<QPromise<bool>> promises;
    return promises;
}

inline QFuture<bool> sharedTickTask(int)
{
    taskState().enter();
    QPromise<bool> &p = tickPromises().emplace_back();
    p.start();
    return p.future();
}

inline void resolveTick()
{
    for (QPromise<bool> &p : tickPromises()) {
        taskState().leave();
        p.addResult(true);
        p.finish();
    }
    tickPromises().clear();
}

} // namespace bench
