"""NB-IoT uplink: a Quectel BC95/BC28-class module driven by AT commands over a serial port.

``at.py`` reads the module's lines (sans-IO), ``modem.py`` drives the module
with pyserial (attach, APN and bands, signal, UDP sockets), ``module_mqtt.py``
drives the module's own MQTT client (Quectel's QMT commands), ``links.py`` sends
a frame over either, and ``sender.py`` delivers compact frames and waits for the
cloud's signed acknowledgement, re-attaching or rebooting the module when it must.
"""
