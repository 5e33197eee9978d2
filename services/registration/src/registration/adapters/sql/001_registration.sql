-- Registration's own tables beside the kernel's event store. Each feature adds its own
-- numbered file: 002-009 organisations, 010-019 directory of services, 020-029 accounts.
SELECT 1;
