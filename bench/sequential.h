// SPDX-License-Identifier: MIT
#pragma once

//! \file sequential.h
//! Sequential calls, each awaited before the next starts (the peers script's seqLoop()): the
//! B0 floors and the loop every sequential workload runs through, shared by the breaker
//! groups (W1, W2, W5) and the policies group (P).

#include "tasks.h"
#include "workloads.h"

#include <kompoz/asynccombinator.h>

#include <tuple>

namespace bench {

//! B0 floors, each a baseline of its group (see workloads.h).
Variant floorReady(qint64 n);
Variant floorPromise(qint64 n);
Variant floorReadNow(qint64 n);
Variant floorPlain(qint64 n);

enum class Task { Ready, Promise, Plain };
enum class Path { Future, Callback };

inline kompoz::AsyncCombinator<int> ruleFor(Task task)
{
    switch (task) {
    case Task::Ready:
        return kompoz::asyncRule<int>([](int i) { return readyTask(i); });
    case Task::Promise:
        return kompoz::asyncRule<int>([](int i) { return promiseTask(i); });
    case Task::Plain:
        break;
    }
    return kompoz::asyncRule<int>([](int i) { return plainTask(i); });
}

inline QString taskName(Task task)
{
    return task == Task::Ready      ? QStringLiteral("ready")
            : task == Task::Promise ? QStringLiteral("promise")
                                    : QStringLiteral("plain");
}

//! The floor a workload on `task` and `path` is compared with.
inline QString floorFor(Task task, Path path)
{
    if (path == Path::Callback)
        return task == Task::Plain ? QStringLiteral("B0.cb.plain")
                                   : QStringLiteral("B0.readnow.ready");
    return task == Task::Ready ? QStringLiteral("B0.future.ready")
                               : QStringLiteral("B0.future.promise");
}

inline QString pathName(Path path)
{
    return path == Path::Future ? QStringLiteral("future") : QStringLiteral("cb");
}

inline QString pathLabel(Path path)
{
    return path == Path::Future ? QStringLiteral("QFuture path") : QStringLiteral("callback path");
}

//! `make` builds a fresh combinator (outside the timed region) and returns a tuple: the
//! combinator to run first, then handles to verify; `verify(parts, n, ok, checks)` checks it
//! afterwards with require() and records what it checked.
template<typename Make, typename Verify>
Variant sequential(QString id, QString label, QString baseline, qint64 n, Task task, Path path,
                   Make make, Verify verify)
{
    auto run = [task, path, make, verify](qint64 n, QJsonObject &checks) {
        auto parts = make();
        const auto &c = std::get<0>(parts);
        taskState().reset();
        qint64 ok = 0;
        const auto t0 = clockStart();
        if (path == Path::Future) {
            for (qint64 i = 0; i < n; ++i) {
                c.run(int(i)).then([&ok](const kompoz::Result<int> &r) { ok += r.ok; });
                if (task == Task::Promise)
                    fulfilPromise();
            }
        } else {
            for (qint64 i = 0; i < n; ++i) {
                c.run(int(i), [&ok](const kompoz::Completion<int> &r) { ok += r.result.ok; });
                if (task == Task::Promise)
                    fulfilPromise();
            }
        }
        const qint64 ns = nsSince(t0);
        verify(parts, n, ok, checks);
        return ns;
    };
    return {std::move(id), std::move(label), std::move(baseline), n, run, 20000};
}

} // namespace bench
