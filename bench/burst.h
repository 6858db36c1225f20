// SPDX-License-Identifier: MIT
#pragma once

//! \file burst.h
//! Waiting for a burst: every run's end is counted, and the event loop that the tasks finish
//! on runs until the last one (the peers script's Promise.all).

#include <QEventLoop>

#include <atomic>

namespace bench {

class Countdown
{
public:
    explicit Countdown(qint64 n) : m_left(n) { }
    void hit(bool ok)
    {
        if (ok)
            m_ok.fetch_add(1, std::memory_order_relaxed);
        if (m_left.fetch_sub(1, std::memory_order_acq_rel) == 1)
            m_loop.quit();
    }
    //! Runs this thread's event loop until every run has ended.
    void wait()
    {
        if (m_left.load(std::memory_order_acquire) > 0)
            m_loop.exec();
    }
    qint64 ok() const { return m_ok.load(std::memory_order_relaxed); }

private:
    std::atomic<qint64> m_left;
    std::atomic<qint64> m_ok {0};
    QEventLoop m_loop;
};

} // namespace bench
