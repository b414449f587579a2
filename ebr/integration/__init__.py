"""ERP and LIMS integration: B2MML process orders in, a transactional outbox out.

::

    IntegrationError              (ValidationError) a message was refused
    └── MessageRefused            carries the error acknowledgement to send back

Inbound messages are parsed and validated (``b2mml``), applied with their audit
events in one transaction (``services``) and acknowledged; outbound messages are
written to the outbox in the transaction of the GMP change that causes them and
delivered by the worker (``worker``) through a transport (``transports``).
"""
