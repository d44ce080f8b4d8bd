# The worker pattern of the platform's original design, as published there, with only its
# import lines changed (`shared.` → `jennie_worker.`). It is not imported: the tests run it
# with `run_seed_worker` (test_seed_worker.py), which provides what the snippet leaves to the
# module around it: RABBITMQ_URL, queue_name, run_scan and logger, and the name
# `handle_scheduler_job`, which the snippet passes to RabbitMQWorker before defining it.
from jennie_worker.scheduler_client import mark_job_run
from jennie_worker.scheduler_runtime import parse_job_message, reschedule_job
from jennie_worker.rabbitmq import RabbitMQWorker, RabbitMQPublisher

# RabbitMQ Worker 초기화
worker = RabbitMQWorker(
    amqp_url=RABBITMQ_URL,
    queue_name="real.jobs.buy-scanner",
    handler=handle_scheduler_job
)

def handle_scheduler_job(payload):
    job = parse_job_message(payload)
    
    try:
        # 실제 작업 수행
        run_scan(**job.params)
        
        # 완료 보고 (Scheduler 모드)
        mark_job_run(job.job_id, scope=job.scope)
        
    except Exception as e:
        logger.error(f"Job 실행 실패: {e}")
    
    finally:
        # Queue 모드인 경우 자체 재스케줄
        if job.auto_reschedule and job.next_delay_sec:
            publisher = RabbitMQPublisher(RABBITMQ_URL, queue_name)
            reschedule_job(publisher, job)

# Worker 시작
worker.start()
