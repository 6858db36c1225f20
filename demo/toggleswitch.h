// SPDX-License-Identifier: MIT
#pragma once

//! \file toggleswitch.h
//! An on/off switch (a checkable button painted as a track and a knob): the outage and hang
//! switches read at a glance, which a dark-themed check box does not.

#include <QAbstractButton>
#include <QColor>

class ToggleSwitch : public QAbstractButton
{
    Q_OBJECT

public:
    explicit ToggleSwitch(const QString &text, const QColor &onColor, QWidget *parent = nullptr);
    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QColor m_onColor;
};
