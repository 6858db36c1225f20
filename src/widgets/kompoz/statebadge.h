// SPDX-License-Identifier: MIT
#pragma once

//! \file statebadge.h
//! A circuit breaker's state as a coloured pill: Closed green, Half-open amber, Open red.

#include <kompoz/kompozwidgets_export.h>
#include <kompoz/types.h>

#include <QLabel>

namespace kompoz {

//! Shows a CircuitState. text() is what a person reads ("Closed", "Half-open", "Open");
//! stateChanged() is emitted for every state it starts showing, so a test or a screen reader
//! hears of a half-open period however short it was.
class KOMPOZWIDGETS_EXPORT StateBadge : public QLabel
{
    Q_OBJECT
    Q_PROPERTY(kompoz::CircuitState state READ state WRITE setState NOTIFY stateChanged)

public:
    explicit StateBadge(QWidget *parent = nullptr);
    ~StateBadge() override;

    CircuitState state() const { return m_state; }
    //! The text shown for `state`.
    static QString label(CircuitState state);
    //! The colour of `state`, shared with the chart's state band.
    static QColor color(CircuitState state);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

public Q_SLOTS:
    void setState(kompoz::CircuitState state);

Q_SIGNALS:
    void stateChanged(kompoz::CircuitState state);

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    CircuitState m_state = CircuitState::Closed;
};

} // namespace kompoz
