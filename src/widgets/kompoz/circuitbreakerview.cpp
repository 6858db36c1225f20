// SPDX-License-Identifier: MIT
#include "circuitbreakerview.h"

#include "metricschart.h"
#include "statebadge.h"

#include <kompoz/circuitbreaker.h>
#include <kompoz/limiter.h>
#include <kompoz/ratelimiter.h>
#include <kompoz/retry.h>
#include <kompoz/rollingmetrics.h>
#include <kompoz/timeout.h>

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QTimer>
#include <QVBoxLayout>

namespace kompoz {

namespace {
QString formatLatency(double ms)
{
    if (ms <= 0)
        return QStringLiteral("–");
    if (ms < 10)
        return QString::number(ms, 'f', 1) + QLatin1String(" ms");
    if (ms < 10000)
        return QString::number(ms, 'f', 0) + QLatin1String(" ms");
    return QString::number(ms / 1000, 'f', 1) + QLatin1String(" s");
}

QString formatTime(const QDateTime &t)
{
    return t.isValid() ? t.toLocalTime().toString(QStringLiteral("HH:mm:ss.zzz"))
                       : QStringLiteral("–");
}

void setTextIfChanged(QLabel *label, const QString &text)
{
    if (label->text() != text)
        label->setText(text);
}

// The small upper-case caption above (or before) a value.
QLabel *captionLabel(const QString &caption, QWidget *parent)
{
    auto *label = new QLabel(caption.toUpper(), parent);
    QFont f = label->font();
    f.setPointSizeF(f.pointSizeF() * 0.78);
    f.setLetterSpacing(QFont::PercentageSpacing, 106);
    label->setFont(f);
    label->setForegroundRole(QPalette::PlaceholderText);
    return label;
}

// A value a person reads, found by its objectName; "–" until it is known.
QLabel *newValueLabel(const QString &caption, const QString &objectName, QWidget *parent)
{
    auto *value = new QLabel(QStringLiteral("–"), parent);
    value->setObjectName(objectName);
    value->setAccessibleName(caption);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    return value;
}

QString count(int n) { return QString::number(n); }

// Points a policy row's `bound` at `object`, connecting each `changed` signal of it to
// `markStale`; with no object the row shows "off" and a dash for each of `values`. True when
// there is an object.
template<typename Object, typename MarkStale>
bool bindRow(QPointer<Object> &bound, Object *object, QWidget *view, MarkStale markStale,
             std::initializer_list<void (Object::*)(int)> changed, QLabel *setting,
             std::initializer_list<QLabel *> values)
{
    if (bound)
        QObject::disconnect(bound, nullptr, view, nullptr);
    bound = object;
    if (!object) {
        setting->setText(CircuitBreakerView::tr("off"));
        setting->setToolTip(QString());
        for (QLabel *l : values)
            l->setText(QStringLiteral("–"));
        return false;
    }
    for (auto signal : changed)
        QObject::connect(object, signal, view, markStale);
    markStale();
    return true;
}
} // namespace

CircuitBreakerView::CircuitBreakerView(CircuitBreaker *breaker, ConcurrencyPool *pool,
                                       RollingMetrics *metrics, TimeoutPolicy *timeout,
                                       QWidget *parent)
    : QFrame(parent),
      m_pool(pool),
      m_metrics(metrics),
      m_timeout(timeout),
      m_title(new QLabel(this)),
      m_mode(new QLabel(this)),
      m_badge(new StateBadge(this)),
      m_timer(new QTimer(this))
{
    setObjectName(QStringLiteral("circuitBreakerView"));
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(14, 12, 14, 12);
    layout->setSpacing(10);

    auto *header = new QHBoxLayout;
    m_title->setObjectName(QStringLiteral("title"));
    QFont titleFont = m_title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.35);
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_title->setText(breaker && !breaker->objectName().isEmpty() ? breaker->objectName()
                                                                 : tr("Circuit breaker"));
    m_mode->setObjectName(QStringLiteral("breakerMode"));
    m_mode->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    QFont modeFont = m_mode->font();
    modeFont.setPointSizeF(modeFont.pointSizeF() * 0.9);
    m_mode->setFont(modeFont);
    header->addWidget(m_title, 1);
    header->addWidget(m_mode);
    header->addSpacing(4);
    header->addWidget(m_badge);
    layout->addLayout(header);

    // The headline figures, large; the counts below them, smaller.
    auto *figures = new QGridLayout;
    figures->setHorizontalSpacing(12);
    figures->setVerticalSpacing(2);
    m_successRate = addValue(figures, 0, 0, tr("Success (10 s)"), QStringLiteral("successRate"),
                             true);
    m_throughput = addValue(figures, 0, 1, tr("Throughput"), QStringLiteral("throughput"), true);
    m_p50 = addValue(figures, 0, 2, tr("p50"), QStringLiteral("p50Latency"), true);
    m_p90 = addValue(figures, 0, 3, tr("p90"), QStringLiteral("p90Latency"), true);
    m_p99 = addValue(figures, 0, 4, tr("p99"), QStringLiteral("p99Latency"), true);
    layout->addLayout(figures);

    auto *line = new QFrame(this);
    line->setFrameShape(QFrame::HLine);
    line->setFrameShadow(QFrame::Plain);
    line->setStyleSheet(QStringLiteral("color: palette(mid);"));
    layout->addWidget(line);

    auto *counts = new QGridLayout;
    counts->setHorizontalSpacing(12);
    counts->setVerticalSpacing(2);
    m_successCount = addValue(counts, 0, 0, tr("Successes"), QStringLiteral("successCount"), false);
    m_failureCount = addValue(counts, 0, 1, tr("Failures in a row"), QStringLiteral("failureCount"),
                              false);
    m_halfOpenSuccesses = addValue(counts, 0, 2, tr("Half-open ok"),
                                   QStringLiteral("halfOpenSuccesses"), false);
    m_rejectedCount = addValue(counts, 0, 3, tr("Rejected"), QStringLiteral("rejectedCount"),
                               false);
    m_timedOutCount = addValue(counts, 2, 0, tr("Timed out"), QStringLiteral("timedOutCount"),
                               false);
    m_inFlight = addValue(counts, 2, 1, tr("In flight"), QStringLiteral("inFlight"), false);
    m_queued = addValue(counts, 2, 2, tr("Queued"), QStringLiteral("queued"), false);
    m_failureRatio = addValue(counts, 2, 3, tr("Failure ratio"), QStringLiteral("failureRatio"),
                              false);
    m_lastFailure = addValue(counts, 4, 0, tr("Last failure"), QStringLiteral("lastFailureTime"),
                             false);
    m_lastSuccess = addValue(counts, 4, 2, tr("Last success"), QStringLiteral("lastSuccessTime"),
                             false);
    layout->addLayout(counts);
    m_policies = buildPolicyRows();
    layout->addWidget(m_policies);

    if (metrics) {
        m_chart = new MetricsChart(metrics, breaker, this);
        layout->addWidget(m_chart, 1);
    }

    setBreaker(breaker);
    updateMode();
    if (pool) {
        connect(pool, &ConcurrencyPool::activeChanged, this, &CircuitBreakerView::markStale);
        connect(pool, &ConcurrencyPool::queuedChanged, this, &CircuitBreakerView::markStale);
    }
    if (timeout)
        connect(timeout, &TimeoutPolicy::timedOutCountChanged, this,
                &CircuitBreakerView::markStale);
    if (metrics)
        connect(metrics, &RollingMetrics::figuresChanged, this, &CircuitBreakerView::markStale);

    // The one clock of the card: coalesces every notification into one redraw per interval.
    m_timer->setInterval(100);
    connect(m_timer, &QTimer::timeout, this, &CircuitBreakerView::tick);
    m_timer->start();
    refresh();
}

CircuitBreakerView::~CircuitBreakerView() = default;

QLabel *CircuitBreakerView::addValue(QGridLayout *grid, int row, int column, const QString &caption,
                                     const QString &objectName, bool large)
{
    QLabel *captionText = captionLabel(caption, this);
    QLabel *value = newValueLabel(caption, objectName, this);
    QFont vf = value->font();
    if (large) {
        vf.setPointSizeF(vf.pointSizeF() * 1.45);
        vf.setBold(true);
    } else {
        vf.setPointSizeF(vf.pointSizeF() * 1.05);
    }
    vf.setStyleHint(QFont::SansSerif);
    value->setFont(vf);
    const int span = objectName.endsWith(QLatin1String("Time")) ? 2 : 1;
    grid->addWidget(captionText, row, column, 1, span);
    grid->addWidget(value, row + 1, column, 1, span);
    return value;
}

QLabel *CircuitBreakerView::addInlineValue(QGridLayout *grid, int row, int column,
                                           const QString &caption, const QString &objectName)
{
    // Caption and value on one line: the policy rows stay one line high each.
    auto *cell = new QHBoxLayout;
    cell->setSpacing(5);
    QLabel *value = newValueLabel(caption, objectName, grid->parentWidget());
    cell->addWidget(captionLabel(caption, grid->parentWidget()), 0, Qt::AlignBaseline);
    cell->addWidget(value, 0, Qt::AlignBaseline);
    cell->addStretch(1);
    grid->addLayout(cell, row, column);
    return value;
}

QWidget *CircuitBreakerView::buildPolicyRows()
{
    auto *rows = new QWidget(this);
    rows->setObjectName(QStringLiteral("policies"));
    auto *grid = new QGridLayout(rows);
    grid->setContentsMargins(0, 2, 0, 0);
    grid->setHorizontalSpacing(12);
    grid->setVerticalSpacing(3);
    // In the order a run meets them: the rate limit at the door, then the retry.
    const auto setting = [&](int row, const QString &caption, const QString &objectName) {
        QLabel *c = captionLabel(caption, rows);
        QFont f = c->font();
        f.setBold(true);
        c->setFont(f);
        QLabel *value = newValueLabel(caption, objectName, rows);
        value->setText(tr("off"));
        grid->addWidget(c, row, 0, Qt::AlignVCenter);
        grid->addWidget(value, row, 1, Qt::AlignVCenter);
        return value;
    };
    m_rateSetting = setting(0, tr("Rate limit"), QStringLiteral("rateSetting"));
    m_rateRejected = addInlineValue(grid, 0, 2, tr("Rejected"),
                                    QStringLiteral("rateRejectedCount"));
    m_rateQueued = addInlineValue(grid, 0, 3, tr("Queued"), QStringLiteral("rateQueued"));
    m_rateDelayed = addInlineValue(grid, 0, 4, tr("Delayed"), QStringLiteral("rateDelayedCount"));
    m_retrySetting = setting(1, tr("Retry"), QStringLiteral("retrySetting"));
    m_retryCount = addInlineValue(grid, 1, 2, tr("Retries"), QStringLiteral("retryCount"));
    m_recoveredCount = addInlineValue(grid, 1, 3, tr("Recovered"),
                                      QStringLiteral("recoveredCount"));
    m_exhaustedCount = addInlineValue(grid, 1, 4, tr("Exhausted"),
                                      QStringLiteral("exhaustedCount"));
    m_rateRejected->setToolTip(tr("Runs the rate limiter refused: its queue was full"));
    m_rateDelayed->setToolTip(tr("Runs that waited in the rate limiter's queue"));
    m_retryCount->setToolTip(tr("Attempts after the first, over all runs"));
    m_recoveredCount->setToolTip(tr("Runs that succeeded after at least one retry"));
    m_exhaustedCount->setToolTip(tr("Runs that used up every attempt without a success"));
    grid->setColumnStretch(5, 1);
    rows->hide();
    return rows;
}

CircuitBreaker *CircuitBreakerView::breaker() const { return m_breaker; }

RetryPolicy *CircuitBreakerView::retryPolicy() const { return m_retry; }

RateLimiter *CircuitBreakerView::rateLimiter() const { return m_rateLimiter; }

void CircuitBreakerView::setBreaker(CircuitBreaker *breaker)
{
    if (m_breaker == breaker)
        return;
    if (m_breaker) {
        disconnect(m_breaker, nullptr, this, nullptr);
        disconnect(m_breaker, nullptr, m_title, nullptr);
    }
    m_breaker = breaker;
    if (m_chart)
        m_chart->setBreaker(breaker);
    if (breaker) {
        if (!breaker->objectName().isEmpty())
            m_title->setText(breaker->objectName());
        m_badge->setState(breaker->state());
        // State changes are rare and each matters (a half-open period may last a few ms):
        // shown at once, not at the next refresh.
        connect(breaker, &CircuitBreaker::transitioned, this,
                [this](CircuitState, CircuitState to) {
                    m_badge->setState(to);
                    if (m_chart && m_metrics)
                        m_chart->noteState(m_metrics->currentSecond(), to);
                    markStale();
                });
        connect(breaker, &CircuitBreaker::statsChanged, this, &CircuitBreakerView::markStale);
        connect(breaker, &CircuitBreaker::objectNameChanged, m_title, &QLabel::setText);
        // The mode changes rarely, by a person or an application: shown at once too.
        connect(breaker, &CircuitBreaker::modeChanged, this, &CircuitBreakerView::updateMode);
        connect(breaker, &CircuitBreaker::settingsChanged, this, &CircuitBreakerView::updateMode);
    }
    updateMode();
    markStale();
}

void CircuitBreakerView::setRetryPolicy(RetryPolicy *policy)
{
    m_policies->show();
    if (bindRow(m_retry, policy, this, [this] { markStale(); },
                {&RetryPolicy::retryCountChanged, &RetryPolicy::recoveredCountChanged,
                 &RetryPolicy::exhaustedCountChanged},
                m_retrySetting, {m_retryCount, m_recoveredCount, m_exhaustedCount}))
        m_retrySetting->setText(tr("%n attempts", nullptr, policy->maxAttempts()));
}

void CircuitBreakerView::setRateLimiter(RateLimiter *limiter)
{
    m_policies->show();
    if (!bindRow(m_rateLimiter, limiter, this, [this] { markStale(); },
                 {&RateLimiter::rejectedCountChanged, &RateLimiter::queuedChanged,
                  &RateLimiter::delayedCountChanged},
                 m_rateSetting, {m_rateRejected, m_rateQueued, m_rateDelayed}))
        return;
    m_rateSetting->setText(
            limiter->perMs() == 1000
                    ? tr("%1/s").arg(limiter->permits())
                    : tr("%1 per %2 ms").arg(limiter->permits()).arg(limiter->perMs()));
    m_rateSetting->setToolTip(tr("Token bucket: burst %1, queue limit %2")
                                      .arg(limiter->burst())
                                      .arg(limiter->queueLimit()));
}

void CircuitBreakerView::updateMode()
{
    if (!m_breaker) {
        m_windowed = false;
        m_mode->clear();
        m_mode->setToolTip(QString());
        return;
    }
    const CircuitBreakerOptions o = m_breaker->options();
    m_windowed = o.failureRatio > 0 || o.slowCallDuration.count() > 0;
    const QString window = o.window == CircuitBreakerOptions::WindowKind::Count
            ? tr("%n calls", nullptr, o.windowSize)
            : tr("%1 s").arg(std::chrono::duration<double>(o.windowDuration).count());
    QString text, tip;
    QColor color = palette().color(QPalette::PlaceholderText);
    if (m_breaker->isIsolated()) {
        text = tr("Isolated");
        tip = tr("Held open by isolate(): every run is rejected until reset()");
        color = StateBadge::color(CircuitState::Open);
    } else if (o.disabled) {
        text = tr("Disabled: counts only");
        tip = tr("Every run goes through and is counted; it never opens");
        color = StateBadge::color(CircuitState::HalfOpen);
    } else if (o.failureRatio > 0) {
        text = tr("≥ %1 % of %2 fail").arg(o.failureRatio * 100, 0, 'f', 0).arg(window);
        tip = tr("Failure-ratio mode: opens when at least %1 % of the calls in the window "
                 "(the last %2) failed, once %3 calls are in it")
                      .arg(o.failureRatio * 100, 0, 'f', 0)
                      .arg(window)
                      .arg(o.minimumThroughput);
    } else {
        text = tr("%n failures in a row", nullptr, o.failureThreshold);
        tip = tr("Consecutive-count mode: opens after %n failures in a row", nullptr,
                 o.failureThreshold);
    }
    if (o.slowCallDuration.count() > 0 && !m_breaker->isIsolated() && !o.disabled) {
        text += tr(" · slow calls");
        tip += tr("; or when %1 % of them took over %2 ms")
                       .arg(o.slowCallRatio * 100, 0, 'f', 0)
                       .arg(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    o.slowCallDuration)
                                    .count());
    }
    setTextIfChanged(m_mode, text);
    m_mode->setToolTip(tip);
    QPalette pal = m_mode->palette();
    pal.setColor(QPalette::WindowText, color);
    m_mode->setPalette(pal);
    QFont f = m_mode->font();
    f.setBold(m_breaker->isIsolated() || o.disabled);
    m_mode->setFont(f);
    markStale();
}

QString CircuitBreakerView::title() const { return m_title->text(); }

void CircuitBreakerView::setTitle(const QString &title) { m_title->setText(title); }

int CircuitBreakerView::refreshInterval() const { return m_timer->interval(); }

void CircuitBreakerView::setRefreshInterval(int ms) { m_timer->setInterval(qMax(16, ms)); }

QLabel *CircuitBreakerView::valueLabel(const QString &objectName) const
{
    return findChild<QLabel *>(objectName);
}

void CircuitBreakerView::markStale() { m_stale = true; }

void CircuitBreakerView::tick()
{
    if (m_stale)
        refresh();
    if (m_chart)
        m_chart->tick();
}

void CircuitBreakerView::refresh()
{
    m_stale = false;
    if (m_breaker) {
        const CircuitBreakerStats s = m_breaker->stats();
        m_badge->setState(s.state);
        setTextIfChanged(m_successCount, QString::number(s.successCount));
        setTextIfChanged(m_failureCount, QString::number(s.failureCount));
        setTextIfChanged(m_halfOpenSuccesses, QString::number(s.halfOpenSuccesses));
        setTextIfChanged(m_rejectedCount, QString::number(s.rejectedCount));
        setTextIfChanged(m_lastFailure, formatTime(s.lastFailureTime));
        setTextIfChanged(m_lastSuccess, formatTime(s.lastSuccessTime));
        setTextIfChanged(m_failureRatio,
                         m_windowed ? QString::number(m_breaker->failureRatio() * 100, 'f', 1) +
                                         QLatin1String(" %")
                                    : QStringLiteral("–"));
    }
    if (m_retry) {
        setTextIfChanged(m_retryCount, count(m_retry->retryCount()));
        setTextIfChanged(m_recoveredCount, count(m_retry->recoveredCount()));
        setTextIfChanged(m_exhaustedCount, count(m_retry->exhaustedCount()));
    }
    if (m_rateLimiter) {
        setTextIfChanged(m_rateRejected, count(m_rateLimiter->rejectedCount()));
        setTextIfChanged(m_rateQueued, count(m_rateLimiter->queued()));
        setTextIfChanged(m_rateDelayed, count(m_rateLimiter->delayedCount()));
    }
    if (m_timeout)
        setTextIfChanged(m_timedOutCount, QString::number(m_timeout->timedOutCount()));
    if (m_pool) {
        setTextIfChanged(m_inFlight, QString::number(m_pool->active()));
        setTextIfChanged(m_queued, QString::number(m_pool->queued()));
    }
    if (m_metrics) {
        const bool any = m_metrics->windowCount() > 0;
        setTextIfChanged(m_successRate,
                         any ? QString::number(m_metrics->successRate() * 100, 'f', 1) +
                                         QLatin1String(" %")
                             : QStringLiteral("–"));
        setTextIfChanged(m_throughput,
                         QString::number(m_metrics->throughput(), 'f',
                                         m_metrics->throughput() < 100 ? 1 : 0) +
                                 QLatin1String("/s"));
        setTextIfChanged(m_p50, formatLatency(m_metrics->p50LatencyMs()));
        setTextIfChanged(m_p90, formatLatency(m_metrics->p90LatencyMs()));
        setTextIfChanged(m_p99, formatLatency(m_metrics->p99LatencyMs()));
    }
}

} // namespace kompoz
