-- One database per stack; the services create their tables by migrating at start-up.
CREATE DATABASE IF NOT EXISTS jennie_real CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS jennie_mock CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON jennie_real.* TO 'jennie'@'%';
GRANT ALL PRIVILEGES ON jennie_mock.* TO 'jennie'@'%';
